"""The `avatarzoo` command. Errors a person can act on print one message and exit 2."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from avatarzoo.errors import AvatarZooError

EXIT_USER_ERROR = 2


def friendly(fn):
    """Print AvatarZooErrors without a traceback and exit 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except AvatarZooError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(EXIT_USER_ERROR)
        except KeyboardInterrupt:
            click.echo("interrupted; finished stages are kept, rerun to resume", err=True)
            sys.exit(130)

    return wrapper


cache_option = click.option(
    "--cache", "cache_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Stage cache and bundle store (default: $AVATARZOO_CACHE or $HF_HOME/avatarzoo).",
)
profile_option = click.option("--profile", default=None, help="A profile defined in the recipe.")


def _cache(cache_dir):
    from avatarzoo.stages.cache import StageCache

    return StageCache.open(cache_dir)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="avatarzoo")
def main() -> None:
    """Build, inspect and render personal talking-head avatars from typed recipes."""


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@profile_option
@friendly
def validate(recipe: Path, profile: str | None) -> None:
    """Check RECIPE: fields, files, kinds and expression spaces."""
    from avatarzoo.recipe import load_recipe

    lr = load_recipe(recipe, profile=profile)
    click.echo(f"ok: {lr.id} ({recipe})")


@main.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@profile_option
@cache_option
@click.option("--gpus", default=1, show_default=True, type=click.IntRange(min=1),
              help="Plan a data-parallel build on N GPUs (its training stages have their own keys).")
@friendly
def plan(recipe: Path, profile: str | None, cache_dir: Path | None, gpus: int) -> None:
    """Show RECIPE's stages, their keys, and which are cached or to run."""
    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages.build import format_plan, plan as make_plan

    lr = load_recipe(recipe, profile=profile)
    click.echo(format_plan(lr, make_plan(lr, _cache(cache_dir), world_size=gpus)))


gpus_option = click.option(
    "--gpus", default=1, show_default=True, type=click.IntRange(min=1),
    help="GPUs to use. One recipe: train it data-parallel on N GPUs (torch.distributed, "
         "NCCL; a global batch of renderer.batch_size × N, so its own stage keys). "
         "Several recipes: build them at once, one recipe a GPU.",
)


def _check_gpus(gpus: int, device: str) -> None:
    """`--gpus N` (N > 1) needs N CUDA devices; say so plainly otherwise."""
    if gpus <= 1:
        return
    if device == "cpu":
        raise AvatarZooError(f"--gpus {gpus} needs CUDA, but --device cpu was given; "
                             "drop --gpus to build on the CPU")
    import torch

    found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if found < gpus:
        raise AvatarZooError(f"--gpus {gpus} asks for {gpus} GPUs but CUDA sees {found}"
                             f"{' (check CUDA_VISIBLE_DEVICES)' if found else ''}; "
                             f"use --gpus {max(found, 1)}" + ("" if found else " or omit it"))


def _build_one(recipe: Path, *, profile, cache, until, device, world_size, jobs=None) -> None:
    import time

    from avatarzoo.recipe import load_recipe
    from avatarzoo.stages.build import build as run_build
    from avatarzoo.stages.store import install_bundle

    started = time.perf_counter()
    lr = load_recipe(recipe, profile=profile)
    outputs = run_build(lr, cache, until=until, device=device, world_size=world_size,
                        jobs=jobs, echo=click.echo)
    if "package" in outputs:
        path = install_bundle(cache, lr.id, outputs["package"] / "bundle")
        click.echo(f"bundle {lr.id} → {path}")
    click.echo(f"build finished in {time.perf_counter() - started:.1f} s")


@main.command()
@click.argument("recipes", nargs=-1, required=True, type=click.Path(path_type=Path))
@profile_option
@cache_option
@click.option("--until", default=None, help="Stop after this stage (e.g. track).")
@click.option("--device", default="auto", type=click.Choice(["auto", "cpu", "cuda"]))
@gpus_option
@click.option("--jobs", type=click.IntRange(min=1), default=None,
              help="Stages at once (default: 2 on CUDA, the driver's CPU fit beside the renderer's, 1 on CPU).")
@friendly
def build(recipes: tuple[Path, ...], profile: str | None, cache_dir: Path | None, until: str | None,
          device: str, gpus: int, jobs: int | None) -> None:
    """Run each RECIPE's stages that are not cached, then put the bundle in the local store.

    With one RECIPE and --gpus N, the renderer trains data-parallel on N GPUs. With
    several RECIPES and --gpus N, they build at once, one recipe a GPU, sharing the cache."""
    from avatarzoo.recipe import load_recipe

    _check_gpus(gpus, device)
    for r in recipes:  # every recipe error before anything runs
        load_recipe(r, profile=profile)
    cache = _cache(cache_dir)
    if len(recipes) == 1:
        _build_one(recipes[0], profile=profile, cache=cache, until=until, device=device,
                   world_size=gpus, jobs=jobs)
        return
    if gpus == 1:
        for r in recipes:
            _build_one(r, profile=profile, cache=cache, until=until, device=device, world_size=1, jobs=jobs)
        return
    import time

    from avatarzoo.stages.spread import build_argv, run_spread, visible_gpus

    started = time.perf_counter()
    ids = visible_gpus(gpus)
    click.echo(f"building {len(recipes)} recipes on {len(ids)} GPUs ({', '.join(ids)}), one recipe a GPU")
    jobs = [(str(r), build_argv(str(r), profile=profile, cache_dir=str(cache.root), until=until))
            for r in recipes]
    codes = run_spread(jobs, ids, echo=click.echo)
    failed = [name for name, rc in codes.items() if rc != 0]
    click.echo(f"{len(recipes) - len(failed)} of {len(recipes)} builds finished in "
               f"{time.perf_counter() - started:.1f} s")
    if failed:
        raise AvatarZooError(f"the build of {', '.join(failed)} failed (see its lines above)")


@main.command()
@click.option("-o", "--out", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("schemas"))
@click.option("--check", is_flag=True, help="Exit 1 when the files in OUT are stale.")
@friendly
def schema(out: Path, check: bool) -> None:
    """Write the JSON Schemas (recipe, bundle metadata, catalog) generated from the models."""
    from avatarzoo.schema import render, schemas, write_schemas

    if check:
        stale = [n for n, s in schemas().items()
                 if not (out / n).is_file() or (out / n).read_text() != render(s)]
        if stale:
            click.echo(f"stale: {', '.join(stale)}; run `avatarzoo schema`", err=True)
            sys.exit(1)
        click.echo("schemas are up to date")
        return
    for p in write_schemas(out):
        click.echo(f"wrote {p}")


zoo_option = click.option(
    "--zoo", "zoo_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The zoo root holding zoo/catalog.yaml and cards/ (default: $AVATARZOO_ZOO or this checkout).",
)


def _store(cache_dir):
    from avatarzoo.bundle.store import BundleStore

    return BundleStore.open(cache_dir)


def _catalog(zoo_dir):
    from avatarzoo.hub.catalog import CATALOG, catalog_path

    return Path(zoo_dir) / CATALOG if zoo_dir is not None else catalog_path()


@main.command(name="list")
@cache_option
@zoo_option
@friendly
def list_(cache_dir: Path | None, zoo_dir: Path | None) -> None:
    """List the avatars in the local bundle store and in the zoo catalog (cached or not)."""
    from avatarzoo.bundle.io import read_bundle
    from avatarzoo.errors import BundleError
    from avatarzoo.hub.catalog import read_catalog

    store = _store(cache_dir)
    path = _catalog(zoo_dir)
    catalog = read_catalog(path)
    ids = store.ids()
    if not ids and not catalog.avatars:
        click.echo(f"no avatars in {store.root} nor in the zoo catalog {path or '(none)'}"
                   " (build one with `avatarzoo build RECIPE`)")
    for avatar_id in ids:
        try:
            b = read_bundle(store.path(avatar_id), verify=False)
        except BundleError as e:
            click.echo(f"{avatar_id:<24} local     broken: {e}")
            continue
        click.echo(f"{avatar_id:<24} local     {b.metadata.get('avatarzoo.renderer', '?'):<10}"
                   f" {b.metadata.get('avatarzoo.size', '?')}px  {store.path(avatar_id)}")
    if catalog.avatars:
        from avatarzoo.hub.pull import cached_snapshot

        for e in catalog.avatars:
            where = cached_snapshot(e.repo, e.revision)
            state = f"cached  {where}" if where else f"not cached (`avatarzoo pull {e.id}`)"
            click.echo(f"{e.id:<24} catalog   {e.repo}@{e.tag} ({e.revision[:12]}, {e.size / 1e6:.1f} MB,"
                       f" {e.license})  {state}")


@main.command()
@click.argument("id_or_dir")
@click.option("--repo", required=True, help="The Hub repo to publish to, 'user/name' (created if needed).")
@click.option("--private", is_flag=True, help="Create the repo private (ignored when it exists).")
@click.option("--revision", "branch", default=None, help="Commit to this branch (created from main if missing).")
@cache_option
@zoo_option
@friendly
def push(id_or_dir: str, repo: str, private: bool, branch: str | None, cache_dir: Path | None,
         zoo_dir: Path | None) -> None:
    """Publish avatar ID_OR_DIR (local store id or bundle directory) to the Hub: one commit,
    tag v{version}, then record it in zoo/catalog.yaml and cards/ID.md."""
    from avatarzoo.bundle.io import read_bundle
    from avatarzoo.hub.push import push as push_bundle
    from avatarzoo.runtime.resolve import locate

    loc = locate(id_or_dir, store=_store(cache_dir))
    if loc.path is None:
        from avatarzoo.errors import NotFoundError

        raise NotFoundError(f"'{id_or_dir}' is not in the local store nor a bundle directory; push"
                             " publishes a bundle built here (`avatarzoo build RECIPE`)")
    entry, catalog = push_bundle(read_bundle(loc.path), repo=repo, private=private, branch=branch,
                                 zoo=zoo_dir)
    click.echo(f"pushed {entry.id} → {entry.repo}@{entry.tag} (revision {entry.revision})")
    click.echo(f"recorded in {catalog}; card {catalog.parent.parent / entry.card}")


@main.command()
@click.argument("name")
@zoo_option
@friendly
def pull(name: str, zoo_dir: Path | None) -> None:
    """Download avatar NAME into the Hugging Face cache and verify it: 'user/name@v2',
    'hf-hub:user/name@v2', or a catalogued id (its pinned revision)."""
    from avatarzoo.hub.catalog import read_catalog
    from avatarzoo.hub.names import parse_hub_name
    from avatarzoo.hub.pull import pull as pull_bundle
    from avatarzoo.runtime.resolve import ID_PATTERN

    path = _catalog(zoo_dir)
    catalog = read_catalog(path)
    entry = catalog.get(name) if ID_PATTERN.match(name) else None
    if ID_PATTERN.match(name) and entry is None:
        from avatarzoo.errors import NotFoundError, did_you_mean

        raise NotFoundError(f"'{name}' is not in the zoo catalog {path or '(none)'}"
                            f"{did_you_mean(name, catalog.ids)}; pull a Hub repo as 'user/name@v1'")
    hub = None if entry is not None else parse_hub_name(name, bare=True)
    bundle = pull_bundle(hub, entry=entry)
    repo = entry.repo if entry is not None else hub.repo
    click.echo(f"{bundle.id}: {repo} revision {bundle.path.name}, verified")
    click.echo(f"  {bundle.path}")


@main.command()
@click.argument("name")
@cache_option
@friendly
def show(name: str, cache_dir: Path | None) -> None:
    """Summarise avatar NAME (id, bundle directory or hf-hub:user/name@v2): card, metrics, sizes."""
    from avatarzoo.bundle.card import read_front_matter
    from avatarzoo.runtime.resolve import open_bundle

    b = open_bundle(name, store=_store(cache_dir))
    front = read_front_matter(b.card)
    click.echo(f"{b.id}  ({b.path})")
    click.echo(f"  license: {front.get('license')}   space: {json.loads(b.metadata['avatarzoo.space'])['name']}"
               f"   size: {b.metadata.get('avatarzoo.size')}px   fps: {b.metadata.get('avatarzoo.fps')}")
    click.echo(f"  recipe sha256: {b.metadata.get('avatarzoo.recipe_sha256')}")
    for fname, entry in b.manifest["files"].items():
        click.echo(f"  {fname:<20} {entry['size'] / 1e6:8.2f} MB")
    for result in (front.get("model-index") or [{}])[0].get("results", []):
        for m in result.get("metrics", []):
            click.echo(f"  {m.get('name', m['type']):<40} {m['value']}")


@main.command()
@click.argument("name")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
@cache_option
@friendly
def render(name: str, out: Path, device: str, cache_dir: Path | None) -> None:
    """Render avatar NAME re-enacting its held-out frames (with their audio) into OUT."""
    from avatarzoo.runtime.avatar import Avatar
    from avatarzoo.runtime.resolve import open_bundle

    avatar = Avatar(open_bundle(name, store=_store(cache_dir)), device=device)
    path = avatar.replay(out)
    click.echo(f"wrote {path}")


@main.command()
@click.argument("name")
@click.option("--audio", "audio", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Speech: any file with an audio stream (wav, mp3, a video's sound track...).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", default=0, show_default=True, help="Seed of the blinks, gaze and head motion.")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
@cache_option
@friendly
def speak(name: str, audio: Path, out: Path, seed: int, device: str, cache_dir: Path | None) -> None:
    """Avatar NAME saying AUDIO: a video OUT with the audio muxed in, in sync."""
    import time

    from avatarzoo.runtime.avatar import Avatar
    from avatarzoo.runtime.resolve import open_bundle

    if not audio.is_file():
        raise AvatarZooError(f"{audio}: no such audio file")
    avatar = Avatar(open_bundle(name, store=_store(cache_dir)), device=device)
    started = time.perf_counter()
    path = avatar.speak(audio, out, seed=seed)
    click.echo(f"wrote {path} ({time.perf_counter() - started:.1f} s)")


@main.command()
@click.argument("names", nargs=-1)
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on (0.0.0.0 exposes it; put TLS and auth in front).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
@click.option("--max-sessions", default=16, show_default=True, type=click.IntRange(min=1))
@click.option("--idle-timeout", default=30.0, show_default=True, help="Seconds without a client message.")
@click.option("--send-timeout", default=5.0, show_default=True,
              help="Seconds a frame may wait to be sent before a client that does not read is closed.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Threads stepping sessions (default: the CPU count, 2..8).")
@click.option("--threads", "torch_threads", default=1, show_default=True, type=click.IntRange(min=1),
              help="torch threads per operation (1: sessions run side by side on the cores).")
@cache_option
@friendly
def serve(names: tuple[str, ...], host: str, port: int, device: str, max_sessions: int, idle_timeout: float,
          send_timeout: float, workers: int | None, torch_threads: int, cache_dir: Path | None) -> None:
    """Serve avatars NAMES (default: every one in the local store) live: a WebSocket
    (audio chunks in, frames with their audio out; or, with "drive": "video", pictures
    of a face in, the avatar reenacting them out), /health, and a page at / (microphone,
    clip or camera)."""
    from avatarzoo.serve.app import serve as run
    from avatarzoo.serve.sessions import Limits

    click.echo(f"avatarzoo serve: http://{host}:{port}/ (WebSocket /ws, health /health)")
    run(list(names), host=host, port=port, device=device, store=_store(cache_dir), workers=workers,
        torch_threads=torch_threads, limits=Limits(max_sessions=max_sessions, idle_timeout_s=idle_timeout,
                                                   send_timeout_s=send_timeout))


@main.command()
@click.argument("name")
@click.option("--video", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The driver's video (tracked with the built-in tracker; its audio is muxed in).")
@click.option("--tracking", "tracking", type=click.Path(path_type=Path), default=None,
              help="Instead of --video: the driver's tracking.safetensors (any space; see --map).")
@click.option("-o", "--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--map", "maps", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A LinearMap .safetensors from the driver's space into the avatar's (repeatable).")
@click.option("--scale", default="region", show_default=True, type=click.Choice(["region", "channel"]),
              help="Map the driver's range onto the avatar's per facial region or per channel.")
@click.option("--body", default="head", show_default=True, type=click.Choice(["head", "driver", "neutral"]),
              help="The avatar's body follows its own head as in training, plays the driver's torso "
                   "motion, or stays at its neutral.")
@click.option("--side-by-side", is_flag=True, help="Write driver | avatar side by side.")
@click.option("--device", default="cpu", type=click.Choice(["cpu", "cuda"]))
@cache_option
@friendly
def drive(name: str, video: Path | None, tracking: Path | None, out: Path, maps: tuple[Path, ...], scale: str,
          body: str, side_by_side: bool, device: str, cache_dir: Path | None) -> None:
    """Avatar NAME reenacting someone else's performance: their expression and head motion,
    relative to their own neutral face, played with the avatar's own face into OUT."""
    from avatarzoo.drive.offline import load_map
    from avatarzoo.runtime.avatar import Avatar
    from avatarzoo.runtime.resolve import open_bundle

    if (video is None) == (tracking is None):
        raise AvatarZooError("give the driver as exactly one of --video DRIVER.mp4 or --tracking FILE")
    source = video if video is not None else tracking
    if not Path(source).exists():
        raise AvatarZooError(f"{source}: no such file")
    loaded = [load_map(m) for m in maps]
    avatar = Avatar(open_bundle(name, store=_store(cache_dir)), device=device)
    result = avatar.reenact(source, out, maps=loaded, scale=scale, body=body, side_by_side=side_by_side)
    click.echo(result.summary())
    click.echo(f"wrote {result.out}")


@main.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--fps", default=25.0, show_default=True)
@click.option("--size", default=512, show_default=True)
@friendly
def track(video: Path, out: Path, fps: float, size: int) -> None:
    """Track VIDEO standalone: tracking.safetensors + previews into OUT."""
    from avatarzoo.trackers.standalone import track_video

    tr = track_video(video, out, fps=fps, size=size)
    click.echo(f"tracked {len(tr.time)} frames → {out}")


@main.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--recipe", type=click.Path(path_type=Path), default=None,
              help="Check against this recipe's settings (crop size, fps, framing, tracker); "
                   "default: a new recipe's, written into the report directory.")
@profile_option
@cache_option
@click.option("-o", "--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for report.html, report.txt, report.json (default: ./VIDEO-check).")
@friendly
def check(video: Path, recipe: Path | None, profile: str | None, cache_dir: Path | None, out: Path | None) -> None:
    """Will VIDEO make a good avatar? Ingest and track it (cached, as a build would), then a
    verdict per item with the moments that fail. Exit 0: good, 1: needs a re-take."""
    from avatarzoo.check.run import check_video

    checked = check_video(video, recipe=recipe, profile=profile, cache=_cache(cache_dir), out=out, echo=click.echo)
    click.echo(checked.text)
    sys.exit(checked.report.exit_code)


@main.command(name="eval")
@click.argument("name")
@cache_option
@friendly
def eval_(name: str, cache_dir: Path | None) -> None:
    """Print the held-out evaluation of avatar NAME (from its bundle)."""
    from avatarzoo.runtime.resolve import open_bundle

    b = open_bundle(name, store=_store(cache_dir))
    metrics = b.config.get("metrics") or {}
    if not metrics:
        raise AvatarZooError(f"{b.id}: the bundle holds no evaluation (the evaluate stage did not run)")
    try:
        from avatarzoo.evaluate.report import EvalReport, format_report

        click.echo(format_report(EvalReport.model_validate(metrics)))
    except ImportError:
        click.echo(json.dumps(metrics, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
