"""The store's identity (a UUID, one row), carried by its label-map folder too.

Revision ID: 0002_store_identity
Revises: 0001_initial
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_store_identity'
down_revision = '0001_initial'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('store_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('store_uuid', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('store_identity')
