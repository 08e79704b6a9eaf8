"""Label maps inside the database (table ``label_map``); existing files are moved in.

Before this revision a review's label map was a file in the annotation folder of the
account that saved it (``annotation.label_path``, relative to that folder), so another
account or workstation could not read it. The upgrade reads every such file, checks it
against its recorded SHA-256 and stores its bytes (gzip-compressed NIfTI-1, as they
are) in ``label_map``; a missing or damaged file stops the upgrade with one line naming
the file, and the store is left as it was. The files themselves are left in place
(remove the folder once ``bmes db check`` passes). The downgrade writes every map back
to ``<annotation folder>/<label_path>`` (files created 0600) and drops the table.

The annotation folder comes from ``config.attributes["annotation_dir"]`` (the store
passes its own; ``bmes db upgrade --annotations DIR ...`` one or several, e.g. the
folders of every account that saved reviews: each file is looked for in each) or
``alembic -x annotations=DIR[:DIR2...]``.

Revision ID: 0003_label_maps_in_db
Revises: 0002_store_identity
Create Date: 2026-12-07 12:30:00
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import context, op

from bmes_imaging.errors import StoreError

revision = '0003_label_maps_in_db'
down_revision = '0002_store_identity'
branch_labels = None
depends_on = None

_annotation = sa.table("annotation", sa.column("id", sa.Integer),
                       sa.column("label_path", sa.String), sa.column("label_sha256", sa.String))
_label_map = sa.table("label_map", sa.column("annotation_id", sa.Integer),
                      sa.column("n_bytes", sa.Integer), sa.column("data", sa.LargeBinary))


def _annotation_dirs(purpose: str) -> list[Path]:
    folder = context.config.attributes.get("annotation_dir")
    if folder is None:
        given = context.get_x_argument(as_dictionary=True).get("annotations")
        folder = given.split(os.pathsep) if given else None
    if not folder:
        raise StoreError(f"{purpose} needs the annotation folder of the store (give "
                         "--annotations DIR or $BMES_ANNOTATIONS); nothing was changed")
    if isinstance(folder, (str, os.PathLike)):
        return [Path(folder)]
    return [Path(f) for f in folder]


def _labelled_rows(conn: sa.Connection) -> Iterator[tuple[int, str, str]]:
    q = (sa.select(_annotation.c.id, _annotation.c.label_path, _annotation.c.label_sha256)
         .where(_annotation.c.label_path.is_not(None)).order_by(_annotation.c.id))
    for ann_id, rel, sha in conn.execute(q).all():
        yield int(ann_id), str(rel), str(sha or "")


def upgrade() -> None:
    op.create_table('label_map',
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('n_bytes', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('annotation_id')
    )
    conn = op.get_bind()
    rows = list(_labelled_rows(conn))
    if not rows:
        return
    roots = _annotation_dirs(f"moving {len(rows)} label map file(s) into the database")
    for ann_id, rel, sha in rows:
        found = [root / rel for root in roots if (root / rel).is_file()]
        path = found[0] if found else roots[0] / rel
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            also = (f" (nor in {', '.join(str(r) for r in roots[1:])})"
                    if len(roots) > 1 else "")
            raise StoreError(
                f"cannot move the label maps into the database: annotation file {path} "
                f"(version id {ann_id}) is missing{also}; restore it from a backup, or "
                "give every folder reviews were saved in (bmes db upgrade --annotations "
                "DIR --annotations DIR2 ..., e.g. each reader account's "
                "~/.local/share/bmes-imaging/annotations); nothing was changed") from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise StoreError(
                f"cannot move the label maps into the database: annotation file {path} "
                f"(version id {ann_id}) fails its recorded checksum; restore it from a "
                "backup, then open the store again; nothing was changed")
        conn.execute(_label_map.insert().values(annotation_id=ann_id, n_bytes=len(data),
                                                data=data))


def downgrade() -> None:
    conn = op.get_bind()
    q = (sa.select(_annotation.c.label_path, _label_map.c.data)
         .join(_label_map, _label_map.c.annotation_id == _annotation.c.id)
         .order_by(_annotation.c.id))
    rows = conn.execute(q).all()
    if rows:
        root = _annotation_dirs(f"writing {len(rows)} label map(s) back to files")[0]
        for rel, data in rows:
            path = root / str(rel)
            if path.is_file() and path.read_bytes() == data:
                continue
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(bytes(data))
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
    op.drop_table('label_map')
