"""Step 4 of the flow: model factories. One module per model family, plus the cell registry."""
