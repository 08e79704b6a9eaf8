"""Initial schema of the bmes-imaging store (see bmes_imaging.store._models).

Revision ID: 0001_initial
Revises: (none)
Create Date: 2026-11-26 08:23:57.964378
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_initial'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clinical_import',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('file_name', sa.String(length=255), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('n_records', sa.Integer(), nullable=False),
    sa.Column('imported_by', sa.String(length=100), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('patient',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('rheumatoid_arthritis', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('foot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('side', sa.String(length=1), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'side', name='uq_foot_patient_side')
    )
    with op.batch_alter_table('foot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_foot_patient_id'), ['patient_id'], unique=False)

    op.create_table('patient_identity',
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('hospital_number', sa.String(length=64), nullable=True),
    sa.Column('birth_date', sa.String(length=10), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('patient_id')
    )
    op.create_table('clinical_visit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('foot_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('age', sa.Integer(), nullable=False),
    sa.Column('primary_bones', sa.String(length=200), nullable=False),
    sa.Column('other_bones', sa.String(length=200), nullable=False),
    sa.Column('symptom_months', sa.Float(), nullable=True),
    sa.Column('complaint_to_visit_months', sa.Float(), nullable=True),
    sa.Column('follow_up_months', sa.Float(), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('source_row', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['foot_id'], ['foot.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['import_id'], ['clinical_import.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('foot_id', 'kind', name='uq_visit_foot_kind')
    )
    with op.batch_alter_table('clinical_visit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinical_visit_foot_id'), ['foot_id'], unique=False)

    op.create_table('imaging_study',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('laterality', sa.String(length=1), nullable=True),
    sa.Column('foot_id', sa.Integer(), nullable=True),
    sa.Column('link_method', sa.String(length=20), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['foot_id'], ['foot.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_instance_uid')
    )
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_study_foot_id'), ['foot_id'], unique=False)

    op.create_table('annotation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('reader', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('label_path', sa.String(length=500), nullable=True),
    sa.Column('label_sha256', sa.String(length=64), nullable=True),
    sa.Column('label_shape', sa.String(length=50), nullable=True),
    sa.Column('label_dtype', sa.String(length=20), nullable=True),
    sa.Column('label_affine', sa.Text(), nullable=True),
    sa.Column('series_instance_uid', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('study_id', 'reader', 'version', name='uq_annotation_study_reader_version')
    )
    with op.batch_alter_table('annotation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_study_id'), ['study_id'], unique=False)

    op.create_table('clinical_score',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('instrument', sa.String(length=40), nullable=False),
    sa.Column('timepoint', sa.String(length=20), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['clinical_visit.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('visit_id', 'instrument', 'timepoint',
                        name='uq_score_visit_instrument_time')
    )
    with op.batch_alter_table('clinical_score', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_clinical_score_visit_id'), ['visit_id'], unique=False)

    op.create_table('imaging_series',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('series_instance_uid', sa.String(length=64), nullable=False),
    sa.Column('frame_of_reference_uid', sa.String(length=64), nullable=True),
    sa.Column('series_number', sa.Integer(), nullable=True),
    sa.Column('series_description', sa.String(length=200), nullable=True),
    sa.Column('modality', sa.String(length=16), nullable=True),
    sa.Column('sequence', sa.String(length=16), nullable=True),
    sa.Column('plane', sa.String(length=16), nullable=True),
    sa.Column('laterality', sa.String(length=1), nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('series_instance_uid')
    )
    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imaging_series_study_id'), ['study_id'], unique=False)

    op.create_table('lab_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('analyte', sa.String(length=40), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('unit_as_recorded', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['visit_id'], ['clinical_visit.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('visit_id', 'analyte', name='uq_lab_visit_analyte')
    )
    with op.batch_alter_table('lab_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lab_result_visit_id'), ['visit_id'], unique=False)

    op.create_table('study_identity',
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('dicom_patient_id', sa.String(length=64), nullable=True),
    sa.Column('dicom_patient_name', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('study_id')
    )
    with op.batch_alter_table('study_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_study_identity_dicom_patient_id'),
                              ['dicom_patient_id'], unique=False)

    op.create_table('finding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('bone', sa.Integer(), nullable=False),
    sa.Column('bone_volume_ml', sa.Float(), nullable=True),
    sa.Column('edema_volume_ml', sa.Float(), nullable=True),
    sa.Column('fraction', sa.Float(), nullable=True),
    sa.Column('grade', sa.Integer(), nullable=True),
    sa.Column('t1_ratio', sa.Float(), nullable=True),
    sa.Column('fluid_ratio', sa.Float(), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('primary', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finding_annotation_id'), ['annotation_id'],
                              unique=False)

    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=True),
    sa.Column('annotation_id', sa.Integer(), nullable=True),
    sa.Column('finding_id', sa.Integer(), nullable=True),
    sa.Column('bone', sa.Integer(), nullable=True),
    sa.Column('before_json', sa.Text(), nullable=True),
    sa.Column('after_json', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['finding_id'], ['finding.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_event_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_event_study_id'), ['study_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_event_study_id'))
        batch_op.drop_index(batch_op.f('ix_audit_event_at'))

    op.drop_table('audit_event')
    with op.batch_alter_table('finding', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finding_annotation_id'))

    op.drop_table('finding')
    with op.batch_alter_table('study_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_study_identity_dicom_patient_id'))

    op.drop_table('study_identity')
    with op.batch_alter_table('lab_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lab_result_visit_id'))

    op.drop_table('lab_result')
    with op.batch_alter_table('imaging_series', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_series_study_id'))

    op.drop_table('imaging_series')
    with op.batch_alter_table('clinical_score', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinical_score_visit_id'))

    op.drop_table('clinical_score')
    with op.batch_alter_table('annotation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_annotation_study_id'))

    op.drop_table('annotation')
    with op.batch_alter_table('imaging_study', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imaging_study_foot_id'))

    op.drop_table('imaging_study')
    with op.batch_alter_table('clinical_visit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_clinical_visit_foot_id'))

    op.drop_table('clinical_visit')
    op.drop_table('patient_identity')
    with op.batch_alter_table('foot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_foot_patient_id'))

    op.drop_table('foot')
    op.drop_table('patient')
    op.drop_table('clinical_import')
