"""Audio drivers: speech in, facial expression codes out.

`audio.py` reads speech from any file with an audio stream (16 kHz mono float32);
`features/` holds one extractor per `audio_features` kind (logmel, phones, wav2vec2,
hubert) on one 100 frames/s grid (`features/base.py`); `sync.py` measures the
audio/video offset of a recording. Nothing here is imported by `import avatarzoo`, and
torch, PyAV, pocketsphinx and transformers are imported only by the code that uses them.
"""
