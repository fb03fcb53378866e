"""The studio's web layer: :func:`create_app` turns loaded models into a FastAPI app.

Routes (JSON in and out unless said; every error is ``{"error": "one sentence"}`` with a 4xx
status, and a failure inside one request never stops the server):

- ``GET /`` and ``/mixer``, ``/loops``, ``/blender``, ``/pad``, ``/booth``: the pages;
  ``/static/...`` their files.
- ``GET /api/models``, ``/api/limits``, ``/api/presets``.
- ``POST /api/models/{name}/encode|decode|reconstruct|interpolate|grid|sample|similar|attribute``.
- ``POST /api/midi?model=NAME``: the raw bytes of a MIDI file -> a melody (the window the
  model reads when a model is named).
- ``POST /api/export``: melodies -> one MIDI file (``save_as`` also keeps it in the working folder).
- ``POST /api/render``: melodies -> WAV rendered with FluidSynth.
- ``GET /api/files`` and ``/api/files/{name}``: what was saved in the working folder.
- ``POST /api/nsynth/upload?name=FILE``: the raw bytes of a short WAV -> an upload id for a
  pad corner (kept in memory; the name is only a label).
- ``POST /api/models/{name}/pad``: four corners (presets or upload ids), a pitch, a size ->
  the pad rendered once with the NSynth model (``EmbeddingVerbs.pad``) and cached;
  ``GET /api/pads/{key}/audio.wav`` (every cell end to end) and
  ``/api/pads/{key}/rainbowgram/{row}/{col}.png``.
- The translation booth (``booth.py``): ``POST /api/booth/upload?name=FILE`` (the raw bytes
  of a recording, WAV/FLAC/OGG/MP3, streamed to a temporary file and checked) -> a
  recording id; ``POST /api/models/{name}/translate`` (a recording id, target domains, a
  seed) -> a job translating in the background; ``GET /api/booth/jobs/{job}`` its progress,
  ``/api/booth/jobs/{job}/live/{domain}?start=N`` the samples written so far (a WAV),
  ``/api/booth/jobs/{job}/{domain}.wav`` the finished translation; ``DELETE
  /api/booth/jobs/{job}`` cancels (or forgets) it.

The API never takes a file path from the client: models are named (only those the server
was started with), saved files are plain names checked to stay inside the working folder.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from latentmusic.errors import DependencyError, LatentMusicError
from latentmusic.studio import booth as translation_booth
from latentmusic.studio import limits
from latentmusic.studio import melodies as mel
from latentmusic.studio import pads as nsynth_pads
from latentmusic.studio.engine import DRUMS_NOTE, StudioModel

log = logging.getLogger("latentmusic.studio")

PAGES = {
    "mixer": "mixer.html",
    "loops": "loops.html",
    "blender": "blender.html",
    "pad": "pad.html",
    "booth": "booth.html",
}
BOOTH_UPLOAD = "/api/booth/upload"  # streamed to disk by its route, under its own limit
PAD_CORNERS_DIR = "nsynth-corners"  # preset notes rendered once, inside the working folder
SAVE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
SAVE_SUFFIXES = (".mid", ".midi", ".wav")
# a rendered pad never changes under its key (a hash of what it was rendered from)
PAD_CACHE = {"Cache-Control": "private, max-age=3600, immutable"}
SECURITY_HEADERS = {
    # Everything the pages use comes from this server; nothing may be fetched from elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class StudioError(Exception):
    """An HTTP error with a status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ------------------------------------------------------------------------ request bodies
_STEPS = limits.MAX_MELODY_STEPS


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    pitch: int = Field(ge=0, le=127)
    start: int = Field(ge=0, le=_STEPS - 1)
    end: int = Field(ge=1, le=_STEPS)
    velocity: int = Field(80, ge=1, le=127)
    drum: bool = False
    track: int = Field(0, ge=0, le=15)
    program: int = Field(0, ge=0, le=127)


class MelodyIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notes: list[NoteIn] = Field(max_length=limits.MAX_MELODY_NOTES)
    total_steps: int = Field(0, ge=0, le=_STEPS)
    qpm: float = Field(120.0, ge=limits.MIN_QPM, le=limits.MAX_QPM)


Temperature = Field(0.0, ge=0.0, le=limits.MAX_TEMPERATURE)
Seed = Field(None, ge=0, le=2**31 - 1)
Method = Literal["slerp", "lerp"]


class MelodiesIn(BaseModel):
    melodies: list[MelodyIn] = Field(min_length=1, max_length=limits.MAX_MELODIES)


class DecodeIn(BaseModel):
    z: list[list[float]] = Field(min_length=1, max_length=limits.MAX_MELODIES)
    temperature: float = Temperature
    seed: int | None = Seed
    qpm: float = Field(120.0, ge=limits.MIN_QPM, le=limits.MAX_QPM)


class InterpolateIn(BaseModel):
    melodies: list[MelodyIn] = Field(min_length=2, max_length=2)
    steps: int = Field(8, ge=limits.MIN_STEPS, le=limits.MAX_STEPS)
    method: Method = "slerp"
    temperature: float = Temperature
    seed: int | None = Seed


class GridIn(BaseModel):
    corners: list[MelodyIn] = Field(min_length=4, max_length=4)
    size: int = Field(5, ge=limits.MIN_GRID, le=limits.MAX_GRID)
    method: Method = "slerp"
    temperature: float = Temperature
    seed: int | None = Seed


class SampleIn(BaseModel):
    n: int = Field(4, ge=1, le=limits.MAX_SAMPLES)
    temperature: float = Field(0.5, ge=0.0, le=limits.MAX_TEMPERATURE)
    seed: int | None = Seed
    qpm: float = Field(120.0, ge=limits.MIN_QPM, le=limits.MAX_QPM)


class SimilarIn(BaseModel):
    melody: MelodyIn
    n: int = Field(4, ge=1, le=limits.MAX_SAMPLES)
    similarity: float = Field(0.8, ge=0.0, le=1.0)
    temperature: float = Field(0.5, ge=0.0, le=limits.MAX_TEMPERATURE)
    seed: int | None = Seed


class AttributeIn(BaseModel):
    melody: MelodyIn
    attribute: str = Field(max_length=64)
    magnitude: float = Field(1.0, ge=-limits.MAX_MAGNITUDE, le=limits.MAX_MAGNITUDE)


class ExportIn(MelodiesIn):
    gap_bars: int = Field(0, ge=0, le=4)
    qpm: float | None = Field(None, ge=limits.MIN_QPM, le=limits.MAX_QPM)
    program: int | None = Field(None, ge=0, le=127)
    save_as: str | None = Field(None, max_length=80)


class RenderIn(MelodiesIn):
    gap_bars: int = Field(0, ge=0, le=4)
    qpm: float | None = Field(None, ge=limits.MIN_QPM, le=limits.MAX_QPM)
    program: int | None = Field(None, ge=0, le=127)


class CornerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str | None = Field(None, max_length=64)
    upload: str | None = Field(None, max_length=64)


class TranslateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recording: str = Field(max_length=64)
    targets: list[Annotated[str, Field(max_length=100)]] = Field(max_length=64)
    seed: int | None = Seed


class PadIn(BaseModel):
    corners: list[CornerIn] = Field(min_length=4, max_length=4)
    pitch: int = Field(60, ge=limits.MIN_PAD_PITCH, le=limits.MAX_PAD_PITCH)
    size: int = Field(5, ge=limits.MIN_PAD_SIZE, le=limits.MAX_PAD_SIZE)


def _sequences(melodies: list[MelodyIn], label: str = "Melody") -> list:
    return [
        mel.sequence_from_json(m.model_dump(), f"{label} {i}")
        for i, m in enumerate(melodies, start=1)
    ]


def _out(seqs: list) -> list[dict[str, Any]]:
    return [mel.sequence_to_json(s) for s in seqs]


# ------------------------------------------------------------------------- middleware
class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with a 413 before any route reads them,
    whether the client announced the length or streamed the body in chunks.

    ``streamed`` maps paths whose route reads the body as a stream (to a file) to their own
    limit: an announced length over it is refused here, the rest is the route's to count,
    so a long recording never sits in memory.
    """

    def __init__(self, app: Any, limit: int, streamed: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.streamed = dict(streamed or {})

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        own = self.streamed.get(scope.get("path", ""))
        if own is not None:
            try:
                size = int(declared) if declared is not None else 0
            except ValueError:
                await _send_error(send, 400, "The Content-Length header is not a number.")
                return
            if size > own:
                await _send_error(send, 413, translation_booth.too_big(size))
                return
            await self.app(scope, receive, send)
            return
        too_big = False
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                await _send_error(send, 400, "The Content-Length header is not a number.")
                return
        if too_big:
            await _send_error(send, 413, self._message(int(declared)))
            return
        if declared is not None:
            await self.app(scope, receive, send)
            return
        # No length announced: read the body here, up to the limit, then replay it.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await _send_error(send, 413, self._message(size, more=True))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self, size: int, more: bool = False) -> str:
        what = f"more than {size / 1024:.0f} KB" if more else f"{size / 1024:.0f} KB"
        return (
            f"The request body is {what}; the studio takes at most "
            f"{self.limit // 1024} KB per request (MIDI uploads: {limits.MAX_MIDI_BYTES // 1024} KB, "
            f"WAV uploads: {limits.MAX_WAV_BYTES // 1024} KB)."
        )


async def _send_error(send: Any, status: int, message: str) -> None:
    import json

    body = json.dumps({"error": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ------------------------------------------------------------------------------ the app
def static_dir() -> Path:
    return Path(str(resources.files("latentmusic.studio") / "static"))


def create_app(
    models: Mapping[str, StudioModel],
    workdir: str | Path | None = None,
    allowed_hosts: list[str] | None = None,
) -> FastAPI:
    """The studio for ``models`` (API name -> loaded model).

    ``workdir`` is the only folder the API writes to or reads saved files from (created on
    first save; None: saving is off). ``allowed_hosts`` guards against DNS rebinding when
    the server binds to localhost (None accepts any Host header, as the tests need).
    """
    app = FastAPI(
        title="latentmusic studio",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan,
    )
    app.state.models = dict(models)
    app.state.workdir = Path(workdir).resolve() if workdir is not None else None
    app.state.pads = nsynth_pads.PadStore(
        app.state.workdir / PAD_CORNERS_DIR if app.state.workdir is not None else None
    )
    app.state.booth = translation_booth.Booth()  # its files: one temporary folder, removed on stop
    static = static_dir()

    hosts = {h.lower() for h in allowed_hosts} if allowed_hosts else None

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        if hosts is not None and _host_name(request.headers.get("host", "")) not in hosts:
            # a page elsewhere pointing its own domain at 127.0.0.1 (DNS rebinding)
            return JSONResponse(
                {"error": "This studio answers only requests addressed to localhost."},
                status_code=400,
            )
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(
        BodyLimit,
        limit=limits.MAX_BODY_BYTES,
        streamed={BOOTH_UPLOAD: translation_booth.MAX_UPLOAD_BYTES},
    )

    # ------------------------------------------------------------------------ errors
    @app.exception_handler(StudioError)
    async def _studio_error(request: Request, exc: StudioError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.exception_handler(translation_booth.BoothError)
    async def _booth_error(request: Request, exc: translation_booth.BoothError) -> JSONResponse:
        return JSONResponse({"error": " ".join(str(exc).split())}, status_code=exc.status)

    @app.exception_handler(LatentMusicError)
    async def _user_error(request: Request, exc: LatentMusicError) -> JSONResponse:
        status = 503 if isinstance(exc, DependencyError) else 422
        return JSONResponse({"error": " ".join(str(exc).split())}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": _validation_message(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request refused."
        if exc.status_code == 404 and message == "Not Found":
            message = f"Nothing here: {request.url.path}."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        return JSONResponse({"error": message}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("studio request %s %s failed", request.method, request.url.path)
        return JSONResponse(
            {
                "error": f"The studio failed on this request ({type(exc).__name__}); it keeps running."
            },
            status_code=500,
        )

    def model(name: str, need: str | None = "musicvae") -> StudioModel:
        found = app.state.models.get(name)
        if found is None:
            served = ", ".join(app.state.models) or "none"
            shown = name if len(name) <= 80 else name[:80] + "..."
            raise StudioError(404, f"No model '{shown}' in this studio (it serves: {served}).")
        if need and found.family != need:
            what = {"musicvae": "a MusicVAE", "nsynth": "an NSynth", "translation": "a translation"}
            raise StudioError(
                422,
                f"Model '{name}' is {what.get(found.family, 'a ' + found.family)} model; "
                f"this needs {what.get(need, 'a ' + need)} model.",
            )
        return found

    def translator(name: str) -> StudioModel:
        if not any(m.family == "translation" for m in app.state.models.values()):
            raise StudioError(404, translation_booth.no_model_note())
        return model(name, need="translation")

    # ------------------------------------------------------------------------- pages
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html")

    for route, page in PAGES.items():
        app.add_api_route(
            f"/{route}",
            _page_handler(static / page),
            methods=["GET", "HEAD"],
            include_in_schema=False,
        )

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(static / "favicon.svg", media_type="image/svg+xml")

    app.mount("/static", StaticFiles(directory=static), name="static")

    # ----------------------------------------------------------------------- facts
    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        infos = [
            {**m.info(), **translation_booth.model_info(m)}
            if m.family == "translation"
            else m.info()
            for m in app.state.models.values()
        ]
        notes = {}
        if not any(i.get("representation") == "drums" for i in infos):
            notes["drums"] = DRUMS_NOTE
        if not any(i["family"] == "nsynth" for i in infos):
            notes["nsynth"] = nsynth_pads.no_model_note()
        if not any(i["family"] == "translation" for i in infos):
            notes["translation"] = translation_booth.no_model_note()
        return {"models": infos, "notes": notes}

    @app.get("/api/limits")
    def get_limits() -> dict[str, Any]:
        return {**limits.as_dict(), **translation_booth.limits_dict()}

    @app.get("/api/presets")
    def presets() -> dict[str, Any]:
        return {
            "melodies": mel.MELODY_PRESETS,
            "drums": mel.DRUM_PRESETS,
            "instruments": nsynth_pads.presets_json(),
            "instrument_corners": list(nsynth_pads.DEFAULT_CORNERS),
        }

    # ----------------------------------------------------------------------- verbs
    @app.post("/api/models/{name}/encode")
    def encode(name: str, body: MelodiesIn) -> dict[str, Any]:
        return {"model": name, "z": model(name).encode(_sequences(body.melodies))}

    @app.post("/api/models/{name}/decode")
    def decode(name: str, body: DecodeIn) -> dict[str, Any]:
        seqs = model(name).decode(body.z, body.temperature, body.seed, body.qpm)
        return {"model": name, "melodies": _out(seqs)}

    @app.post("/api/models/{name}/reconstruct")
    def reconstruct(name: str, body: MelodiesIn) -> dict[str, Any]:
        return {"model": name, "melodies": _out(model(name).reconstruct(_sequences(body.melodies)))}

    @app.post("/api/models/{name}/interpolate")
    def interpolate(name: str, body: InterpolateIn) -> dict[str, Any]:
        a, b = _sequences(body.melodies)
        seqs = model(name).interpolate(a, b, body.steps, body.method, body.temperature, body.seed)
        return {"model": name, "steps": body.steps, "melodies": _out(seqs)}

    @app.post("/api/models/{name}/grid")
    def grid(name: str, body: GridIn) -> dict[str, Any]:
        corners = _sequences(body.corners, "Corner")
        seqs = model(name).grid(corners, body.size, body.method, body.temperature, body.seed)
        return {"model": name, "rows": body.size, "cols": body.size, "melodies": _out(seqs)}

    @app.post("/api/models/{name}/sample")
    def sample(name: str, body: SampleIn) -> dict[str, Any]:
        seqs = model(name).sample(body.n, body.temperature, body.seed, body.qpm)
        return {"model": name, "melodies": _out(seqs)}

    @app.post("/api/models/{name}/similar")
    def similar(name: str, body: SimilarIn) -> dict[str, Any]:
        (seq,) = _sequences([body.melody])
        seqs = model(name).similar(seq, body.n, body.similarity, body.temperature, body.seed)
        return {"model": name, "melodies": _out(seqs)}

    @app.post("/api/models/{name}/attribute")
    def attribute(name: str, body: AttributeIn) -> dict[str, Any]:
        (seq,) = _sequences([body.melody])
        found = model(name)
        (result,) = found.attribute(seq, body.attribute, body.magnitude)
        return {
            "model": name,
            "input": mel.sequence_to_json(found.window(seq)),
            "melodies": _out([result]),
        }

    # ------------------------------------------------------------------ MIDI and audio
    @app.post("/api/midi")
    async def upload_midi(
        request: Request, model_name: str | None = Query(None, alias="model", max_length=200)
    ) -> dict[str, Any]:
        found = model(model_name) if model_name else None
        data = await request.body()
        seq = await run_in_threadpool(mel.read_midi_bytes, data, "The uploaded MIDI file")
        notes_in_file = len(seq.notes)
        if found is not None:
            seq = await run_in_threadpool(found.window, seq, False)
            truncated = False
        else:
            truncated = seq.total_steps > limits.MAX_MELODY_STEPS
            if truncated:
                seq = seq.slice(0, limits.MAX_MELODY_STEPS)
        return {
            "melody": mel.sequence_to_json(seq),
            "notes_in_file": notes_in_file,
            "truncated": truncated,
            "model": model_name,
        }

    @app.post("/api/export")
    def export(body: ExportIn) -> Response:
        seq = _joined(body.melodies, body.gap_bars, body.qpm, body.program)
        data = mel.midi_bytes(seq)
        headers = {"Content-Disposition": 'attachment; filename="studio.mid"'}
        if body.save_as is not None:
            saved = _save(app.state.workdir, body.save_as, data)
            headers["X-Saved-As"] = saved.name
            headers["Content-Disposition"] = f'attachment; filename="{saved.name}"'
        return Response(data, media_type="audio/midi", headers=headers)

    @app.post("/api/render")
    def render(body: RenderIn) -> Response:
        seq = _joined(body.melodies, body.gap_bars, body.qpm, body.program)
        data = mel.render_wav(seq)
        return Response(
            data,
            media_type="audio/wav",
            headers={"X-Duration-Seconds": f"{seq.duration_seconds:.3f}"},
        )

    # ------------------------------------------------------------------ the NSynth pad
    @app.post("/api/nsynth/upload")
    async def upload_wav(request: Request, name: str = Query("", max_length=200)) -> dict[str, Any]:
        data = await request.body()
        return await run_in_threadpool(app.state.pads.add_upload, data, name)

    @app.post("/api/models/{name}/pad")
    def pad(name: str, body: PadIn) -> dict[str, Any]:
        found = model(name, need="nsynth")
        corners = [c.model_dump() for c in body.corners]
        rendered, cached = app.state.pads.render(found, corners, body.pitch, body.size)
        return rendered.info(cached)

    def cached_pad(key: str) -> nsynth_pads.Pad:
        try:
            return app.state.pads.get(key)
        except LookupError as exc:
            raise StudioError(404, str(exc)) from None

    @app.get("/api/pads/{key}/audio.wav")
    def pad_audio(key: str) -> Response:
        found = cached_pad(key)
        return Response(found.wav(), media_type="audio/wav", headers=PAD_CACHE)

    @app.get("/api/pads/{key}/rainbowgram/{row}/{col}.png")
    def pad_rainbowgram(key: str, row: int, col: int) -> Response:
        found = cached_pad(key)
        return Response(found.rainbowgram_png(row, col), media_type="image/png", headers=PAD_CACHE)

    # ----------------------------------------------------------- the translation booth
    @app.post(BOOTH_UPLOAD)
    async def booth_upload(
        request: Request, name: str = Query("", max_length=200)
    ) -> dict[str, Any]:
        incoming = await run_in_threadpool(app.state.booth.incoming)
        try:
            async for chunk in request.stream():
                incoming.write(chunk)  # counted: over the limit it is removed and refused
        except BaseException:
            incoming.discard()
            raise
        return await run_in_threadpool(app.state.booth.add_recording, incoming, name)

    @app.post("/api/models/{name}/translate")
    def translate(name: str, body: TranslateIn) -> dict[str, Any]:
        found = translator(name)
        return app.state.booth.start(found, body.recording, body.targets, body.seed)

    @app.get("/api/booth/jobs/{job}")
    def booth_job(job: str) -> dict[str, Any]:
        return app.state.booth.job(job).info()

    @app.delete("/api/booth/jobs/{job}")
    def booth_cancel(job: str) -> dict[str, Any]:
        return app.state.booth.cancel(job)

    @app.get("/api/booth/jobs/{job}/live/{domain}")
    def booth_live(job: str, domain: str, start: int = Query(0, ge=0)) -> Response:
        data, headers = app.state.booth.live(job, domain, start)
        return Response(data, media_type="audio/wav", headers=headers)

    @app.get("/api/booth/jobs/{job}/{domain}.wav")
    def booth_wav(job: str, domain: str) -> FileResponse:
        path, filename = app.state.booth.wav(job, domain)
        return FileResponse(path, media_type="audio/wav", filename=filename)

    # ------------------------------------------------------------- the working folder
    @app.get("/api/files")
    def list_files() -> dict[str, Any]:
        root = app.state.workdir
        if root is None or not root.is_dir():
            return {"files": []}
        files = sorted(
            p for p in root.iterdir() if p.is_file() and p.suffix.lower() in SAVE_SUFFIXES
        )
        return {"files": [{"name": p.name, "bytes": p.stat().st_size} for p in files]}

    @app.get("/api/files/{name}")
    def get_file(name: str) -> FileResponse:
        path = _inside(app.state.workdir, name)
        if not path.is_file():
            raise StudioError(404, f"No saved file '{name}' in the studio's working folder.")
        media = "audio/wav" if path.suffix.lower() == ".wav" else "audio/midi"
        return FileResponse(path, media_type=media, filename=path.name)

    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> Any:
    """When the server stops, the booth's jobs are cancelled and its files removed."""
    yield
    await run_in_threadpool(app.state.booth.close)


def _host_name(header: str) -> str:
    """The host of a Host header, without its port ("[::1]:8765" -> "[::1]")."""
    header = header.strip().lower()
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _page_handler(path: Path) -> Any:
    def page() -> FileResponse:
        return FileResponse(path)

    return page


def _joined(melodies: list[MelodyIn], gap_bars: int, qpm: float | None, program: int | None):  # noqa: ANN202
    seq = mel.concatenate(_sequences(melodies), gap_bars)
    return mel.with_program(mel.with_tempo(seq, qpm), program)


def _inside(root: Path | None, name: str) -> Path:
    """``root / name`` for a plain file name that stays in ``root``; refuses anything else."""
    if root is None:
        raise StudioError(
            404, "This studio has no working folder (start it with --workdir DIR to save files)."
        )
    if not SAVE_NAME.fullmatch(name) or ".." in name:
        raise StudioError(
            400,
            "File names are plain names (letters, digits, '-', '_', '.'; no folders, no '..').",
        )
    if not name.lower().endswith(SAVE_SUFFIXES):
        raise StudioError(400, f"Saved files end in {', '.join(SAVE_SUFFIXES)}; '{name}' does not.")
    path = (root / name).resolve()
    if path.parent != root.resolve():
        raise StudioError(400, "That name leads outside the studio's working folder.")
    return path


def _save(root: Path | None, name: str, data: bytes) -> Path:
    from latentmusic.fileio import atomic_path

    path = _inside(root, name)
    assert root is not None
    root.mkdir(parents=True, exist_ok=True)
    existing = [p for p in root.iterdir() if p.is_file()]
    if len(existing) >= limits.MAX_SAVED_FILES and not path.exists():
        raise StudioError(
            409, f"The working folder already holds {len(existing)} files; remove some first."
        )
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return path


def _validation_message(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as one sentence: where, and what is wrong."""
    errors = exc.errors()
    if not errors:
        return "The request is not valid."
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path"))
    message = str(first.get("msg", "is not valid"))
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    if first.get("type") == "missing" and not where:
        return "The request needs a JSON body."
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return f"{where or 'The request'}: {message}{more}."
