"""The bundle format (DESIGN.md "The bundle").

```
<id>/
  model.safetensors   every tensor; header __metadata__ has avatarzoo.* string keys
  config.json         the resolved recipe + component configs (sorted keys)
  README.md           the model card (Hugging Face front matter + body)
  manifest.json       sha256 and size of every other file; verified on load
  preview.png         optional: held-out contact sheet
```
"""

FORMAT_VERSION = "1"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"
BUNDLE_FILES = (MODEL_FILE, CONFIG_FILE, CARD_FILE, MANIFEST_FILE)
