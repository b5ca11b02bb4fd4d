"""The bundle format (docs/ARCHITECTURE.md, "Bundle").

```
<id>/
  model.safetensors   every tensor; header __metadata__ has avatarzoo.* string keys
  config.json         the resolved recipe + component configs (sorted keys)
  README.md           the model card (Hugging Face front matter + body)
  manifest.json       sha256 and size of every other file; verified on load
  preview.png         optional: held-out contact sheet
```

A bundle is flat: the manifest names only the files above, never a path with a
directory, `..` or a drive, and the directory holds nothing else (but `.gitattributes`,
which the Hub adds to every repo). The limits below bound what reading an untrusted
bundle may cost before anything in it is believed.
"""

FORMAT_VERSION = "1"
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"
BUNDLE_FILES = (MODEL_FILE, CONFIG_FILE, CARD_FILE, MANIFEST_FILE)
OPTIONAL_FILES = ("preview.png",)
IGNORED_FILES = (".gitattributes",)  # the Hub creates it in every repo; never read

MAX_MANIFEST_BYTES = 1 << 20  # manifest.json
MAX_TEXT_BYTES = 64 << 20  # config.json, README.md
MAX_HEADER_BYTES = 8 << 20  # the JSON header of model.safetensors (safetensors allows 100 MB)

# safetensors dtypes and their sizes in bytes
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}
