"""Data layer: dataset readers -> Records, label vocabulary and policies, images, pairing.

Modules: ``records`` (Record), ``labels`` (vocabulary, synonyms, uncertainty policies,
``label_matrix``), ``views``, ``filters`` (frontal, one per study, patient-level splits),
``images`` (``load_image``, ``to_pil_rgb``), ``sections`` (FINDINGS/IMPRESSION), ``pairing``
(anchor pairs), ``describe`` (counts), ``registry`` (``open_dataset``, ``DATASETS``),
``packaged`` (offline demo data inside installed packages), ``readers/`` (one per dataset).
Nothing is imported here so that ``import semalign`` stays fast.
"""
