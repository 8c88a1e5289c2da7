"""The error a report fails with when its inputs cannot be used; its message is stored on the report."""


class ReportInputError(Exception):
    """Bad input for a report: missing column, wrong type, a model that cannot predict, an empty group."""
