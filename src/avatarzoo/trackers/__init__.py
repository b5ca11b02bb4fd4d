"""Trackers: the built-in MediaPipe tracker (stage `track`), smoothing, previews, and
importers of other trackers' native outputs (`importers/`).

Nothing heavy is imported here: `import avatarzoo` must stay fast (no torch, cv2 or
mediapipe until a function needs them).
"""
