"""Reenactment: anyone's performance (a video, a tracking, a webcam) played by an avatar.

The driver is tracked with the built-in tracker (its own neutral face and scales fitted
on its own frames), its codes and head motion are taken relative to the driver's own
neutral and mapped onto the avatar's own ranges (`transfer.py`, with the statistics of
`stats.py`), and the avatar renders them: offline into a video with the driver's audio
(`offline.py`, `Avatar.reenact`, `avatarzoo drive`) or frame by frame from a webcam
(`live.py`, `ReenactSession`).

Nothing here is imported by `import avatarzoo` or by a loaded avatar until it reenacts.
"""
