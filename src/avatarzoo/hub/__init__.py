"""The zoo on the Hugging Face Hub: names, the catalog, push and pull.

- `names`: `hf-hub:user/repo@rev` and `user/repo@rev` → `HubName`.
- `env`: the Hub settings (HF_ENDPOINT, HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE), read
  from the environment when called.
- `catalog`: `zoo/catalog.yaml` (validated on read, written atomically) and `cards/`.
- `pull`: download a bundle through `huggingface_hub` at a pinned revision into its
  cache, only the bundle's own files, then verify it (and against the catalog entry).
- `push`: upload a bundle in one commit, tag it `v{version}`, record it in the catalog.

Nothing here imports `huggingface_hub` (or torch) at module level.
"""
