"""Ingest (stage `ingest`): decode the recording lazily, extract 16 kHz audio with its
offset to the first frame, choose one static crop, person masks and a background plate.

Nothing heavy is imported here (cv2, mediapipe and av are imported where used).
"""
