"""The reports' Chinese names of channels, categories and certification statuses, kept in
service/vocabulary.py; the names stay importable from here for the modules that read them here."""

from service.vocabulary import CATEGORY_LABELS, CHANNEL_LABELS, STATUS_LABELS, UNMATCHED, UNMATCHED_LABEL

__all__ = ["CATEGORY_LABELS", "CHANNEL_LABELS", "STATUS_LABELS", "UNMATCHED", "UNMATCHED_LABEL"]
