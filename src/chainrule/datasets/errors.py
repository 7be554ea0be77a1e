"""The exceptions of the datasets package."""

from __future__ import annotations

__all__ = ["DatasetError", "DatasetWarning", "DownloadError"]


class DatasetError(ValueError):
    """A data file is missing, malformed or fails its checksum.

    The message names the file and the problem (and the line, for text files).
    """


class DatasetWarning(UserWarning):
    """A data file loaded, but something in it is likely a mistake (such as a row index
    read as a feature); the message names the file, the column and what to do."""


class DownloadError(DatasetError):
    """Every mirror failed for a file; the message lists each mirror and why.

    Attributes
    ----------
    failures : list of (url, reason) pairs, one per mirror tried, in order.
    """

    def __init__(self, message: str, failures: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.failures: list[tuple[str, str]] = list(failures or [])
