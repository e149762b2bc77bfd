"""The one error class the CLI turns into a one-line message and exit code 2."""


class FracturelabError(Exception):
    """Bad input or an impossible request: the message names what is wrong (and the file, where there is one)."""


class GenomeError(FracturelabError):
    """A genome file that cannot be read as a feed-forward CPPN."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
