"""The one error class the CLI turns into a one-line message and exit code 2."""


class FracturelabError(Exception):
    """Bad input or an impossible request: the message names what is wrong (and the file, where there is one)."""


class GenomeError(FracturelabError):
    """A genome file that cannot be read as a feed-forward CPPN."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def diverged(step: int) -> FracturelabError:
    """The one line that stops a run whose loss or weights became NaN or infinite (a learning rate too large): SGD
    training, populations and CPPN replicas raise it inside their staged outputs, so nothing is written."""
    return FracturelabError(f"diverged at step {step} (the loss or the weights are no longer finite); "
                            "lower the learning rate")
