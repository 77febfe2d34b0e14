"""The taxonomy pages: admins (RevOps) edit reasons, categories and competitors; reps read the guide.

Every page but the reason guide answers 403 to reps and managers. Views stay thin: each
change is one call to reasons.services, which records the history row.
"""

from reasons.views.categories import category_create_view, category_edit_view, category_move_view
from reasons.views.competitors import (
    competitor_create_view,
    competitor_edit_view,
    competitor_list_view,
    competitor_merge_view,
    competitor_restore_view,
    competitor_retire_view,
    competitor_unmerge_view,
)
from reasons.views.guide import guide_view
from reasons.views.history import export_view, history_view, import_view
from reasons.views.reason_pages import (
    reason_create_view,
    reason_edit_view,
    reason_merge_view,
    reason_move_view,
    reason_restore_view,
    reason_retire_view,
    reason_unmerge_view,
    taxonomy_index_view,
)

__all__ = [
    "taxonomy_index_view",
    "reason_create_view",
    "reason_edit_view",
    "reason_move_view",
    "reason_retire_view",
    "reason_restore_view",
    "reason_unmerge_view",
    "reason_merge_view",
    "category_create_view",
    "category_edit_view",
    "category_move_view",
    "competitor_list_view",
    "competitor_create_view",
    "competitor_edit_view",
    "competitor_retire_view",
    "competitor_restore_view",
    "competitor_unmerge_view",
    "competitor_merge_view",
    "history_view",
    "export_view",
    "import_view",
    "guide_view",
]
