"""A finding keeps its bone mask quality (column ``finding.bone_mask_quality``).

``bone_mask_quality`` (0-1: how far the automatic bone mask of the finding's bone is to
be trusted; NULL when unknown, e.g. for an imported or painted mask) is a nullable
float. Findings saved before this revision have NULL there (read back as NaN: unknown),
so the upgrade only adds the column. The downgrade drops it (the qualities are lost;
everything else stays).

Both directions alter the table in place (``ALTER TABLE ... ADD / DROP COLUMN``; SQLite
3.35 or newer drops a column in place), never by copying it: on SQLite a copy would
drop and recreate ``finding``, and dropping it sets every audit event's ``finding_id``
to NULL (``ON DELETE SET NULL``; foreign keys are on and cannot be turned off inside the
migration's transaction).

Revision ID: 0004_finding_bone_mask_quality
Revises: 0003_label_maps_in_db
Create Date: 2026-12-07 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_finding_bone_mask_quality'
down_revision = '0003_label_maps_in_db'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('finding', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('bone_mask_quality', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('finding', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('bone_mask_quality')
