"""The typed contracts between stages: one reader (and writer) per output file.

`ingest.py`: `IngestInfo` (ingest.json) and `IngestOutput` (the ingest directory:
frames and masks as memmaps, times, audio, background plate). `tracking.py`:
`Tracking` (tracking.safetensors). Every stage that reads these files goes through
them; a malformed file is an InputError naming it. Data only: no stage, tracker or
renderer is imported here.
"""
