"""The one exception type the command line turns into a one-line message and exit code 2."""


class UserError(Exception):
    """Bad input from the user: a missing corpus, a bad flag value, a mismatched run folder.

    The message is a single line that names the problem and says what to do about it.
    Library code raises it *before* writing anything, so nothing already saved is touched.
    """
