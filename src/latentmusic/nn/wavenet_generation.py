"""Fast generation for the WaveNet decoder: the cached incremental ("fast WaveNet") sampler.

Every layer keeps a ring buffer of its past inputs, so one new sample costs one
matrix-vector product per layer instead of a recompute over the receptive field
(``generate_naive``, the reference). On a CPU in float32 the whole per-sample step runs
inside one numba-compiled kernel (``wavenet_fused``), fed a packed copy of the weights
(``pack``); the torch path is the fallback and runs on any device. The state carries from
one call to the next, so a long input decodes in pieces with no reset; ``generate_chunked``
decodes the pieces of one long input in parallel as a batch with an overlap and a
cross-fade. ``WaveNetDecoder.generate`` / ``prime`` / ``generate_chunked`` call in here.

Sampling draws one uniform number per step and batch item from a seeded
``torch.Generator`` and inverts the CDF of softmax(logits / temperature) in float64, in
both backends, so the same seed gives the same codes whichever backend runs.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from latentmusic.errors import DependencyError, InputError
from latentmusic.nn import timemajor as tm
from latentmusic.progress import progress_bar

if TYPE_CHECKING:
    from latentmusic.nn.wavenet import WaveNetDecoder

Backend = Literal["auto", "torch", "fused"]

# Frames of conditioning projected (and steps run by one kernel call) at a time: bounds the
# memory of the per-layer conditioning table for long inputs and paces the progress bar.
_BLOCK_FRAMES = 32


@dataclass
class WaveNetState:
    """What the cached decoder needs to continue exactly where it stopped.

    ``hist`` holds every layer's ring buffer of past layer inputs, layer l at rows
    ``offsets[l] : offsets[l] + (kernel - 1) * dilation[l]``, sample t in slot
    ``t % length``; ``inputs`` is the start conv's window of scaled past codes (scalar
    input path), ``prev`` the last code (-1 before the first; embedding input path).
    """

    t: int
    hist: torch.Tensor  # (B, total, residual) float32
    inputs: torch.Tensor  # (B, kernel) float32
    prev: torch.Tensor  # (B,) int64
    generator: torch.Generator | None = None

    @property
    def batch_size(self) -> int:
        return int(self.hist.shape[0])

    def clone(self) -> WaveNetState:
        """A deep copy (tensors and RNG state), so decoding from it leaves this one intact."""
        gen = None
        if self.generator is not None:
            gen = torch.Generator(device=self.generator.device)
            gen.set_state(self.generator.get_state())
        return WaveNetState(self.t, self.hist.clone(), self.inputs.clone(), self.prev.clone(), gen)


@dataclass
class PackedWeights:
    """Decoder weights rearranged for one-sample steps (float32, contiguous)."""

    wd_t: torch.Tensor  # (L, k*R, 2R): taps oldest..newest stacked along the input dim
    wrs_t: torch.Tensor  # (L, R, R+S): residual then skip 1x1 (last layer: residual = 0)
    brs: torch.Tensor  # (L, R+S)
    start_t: torch.Tensor  # (k, R) start conv over scaled codes (unused with embedding)
    start_b: torch.Tensor  # (R,)
    embed: torch.Tensor  # (n_classes, R) (unused without embedding)
    ss_t: torch.Tensor  # (R, S) skip_start
    ss_b: torch.Tensor  # (S,)
    o1_t: torch.Tensor  # (S, S)
    lg_t: torch.Tensor  # (S, n_classes)
    lg_b: torch.Tensor  # (n_classes,)
    cond_w: torch.Tensor  # (L*2R + S, C): every layer's conditioning 1x1, then the head's
    cond_b: torch.Tensor  # (L*2R + S,): with the dilated conv / out1 biases folded in
    # The stack's geometry, so a kernel needs nothing of the decoder but this record.
    offsets: tuple[int, ...]  # each layer's first slot in the history buffer
    lengths: tuple[int, ...]  # each layer's ring length, (kernel - 1) * dilation
    dilations: tuple[int, ...]
    input_embedding: bool  # codes enter through an embedding (else a conv over scaled codes)
    hop: int  # samples per conditioning frame
    n_classes: int

    @property
    def table_width(self) -> int:
        """Columns of the per-frame conditioning table: every layer's 2R, then the head's S."""
        return self.cond_w.shape[0]


# ------------------------------------------------------------------ generation setup
def initial_state(
    dec: WaveNetDecoder, batch_size: int, generator: torch.Generator | None = None
) -> WaveNetState:
    """The state before the first sample: silence (zeros) in every queue."""
    p = dec.skip_start.weight
    return WaveNetState(
        t=0,
        hist=torch.zeros(
            batch_size, max(sum(dec.lengths), 1), dec.residual_channels, device=p.device
        ),
        inputs=torch.zeros(batch_size, dec.kernel, device=p.device),
        prev=torch.full((batch_size,), -1, dtype=torch.int64, device=p.device),
        generator=generator,
    )


@torch.no_grad()
def pack(dec: WaveNetDecoder) -> PackedWeights:
    r, k = dec.residual_channels, dec.kernel
    p = dec.skip_start.weight
    wd, wrs, brs, cw, cb = [], [], [], [], []
    for layer in dec.layers:
        wd.append(layer.dilated.weight.permute(2, 1, 0).reshape(k * r, 2 * r))
        res_w = layer.res.weight[:, :, 0] if layer.res is not None else p.new_zeros(r, r)
        res_b = layer.res.bias if layer.res is not None else p.new_zeros(r)
        wrs.append(torch.cat([res_w, layer.skip.weight[:, :, 0]], 0).t())
        brs.append(torch.cat([res_b, layer.skip.bias]))
        cw.append(layer.cond.weight[:, :, 0])
        cb.append(layer.cond.bias + layer.dilated.bias)
    cw.append(dec.cond_out.weight[:, :, 0])
    cb.append(dec.cond_out.bias + dec.out1.bias)
    if dec.input_embedding:
        start_t, start_b, embed = p.new_zeros(k, r), p.new_zeros(r), dec.embed.weight
    else:
        start_t, start_b = dec.start.weight[:, 0, :].t(), dec.start.bias
        embed = p.new_zeros(dec.n_classes, r)

    def c(x: torch.Tensor) -> torch.Tensor:
        return x.detach().float().contiguous()

    return PackedWeights(
        wd_t=c(torch.stack(wd)),
        wrs_t=c(torch.stack(wrs)),
        brs=c(torch.stack(brs)),
        start_t=c(start_t),
        start_b=c(start_b),
        embed=c(embed),
        ss_t=c(dec.skip_start.weight[:, :, 0].t()),
        ss_b=c(dec.skip_start.bias),
        o1_t=c(dec.out1.weight[:, :, 0].t()),
        lg_t=c(dec.logits.weight[:, :, 0].t()),
        lg_b=c(dec.logits.bias),
        cond_w=c(torch.cat(cw)),
        cond_b=c(torch.cat(cb)),
        offsets=tuple(dec.offsets),
        lengths=tuple(dec.lengths),
        dilations=tuple(dec.dilations),
        input_embedding=bool(dec.input_embedding),
        hop=int(dec.hop),
        n_classes=int(dec.n_classes),
    )


def resolve_backend(dec: WaveNetDecoder, backend: str) -> str:
    if backend not in ("auto", "torch", "fused"):
        raise InputError(f"Backend must be 'auto', 'torch' or 'fused', got {backend!r}.")
    p = dec.skip_start.weight
    fits = p.device.type == "cpu" and p.dtype == torch.float32
    if backend == "torch":
        return "torch"
    from latentmusic.nn import wavenet_fused

    if backend == "fused":
        if not wavenet_fused.available():
            raise DependencyError(
                "The fused WaveNet backend needs numba; install it with `pip install numba`."
            )
        if not fits:
            raise InputError(
                "The fused WaveNet backend runs float32 models on the CPU; this decoder is "
                f"{p.dtype} on {p.device}."
            )
        return "fused"
    return "fused" if fits and wavenet_fused.available() else "torch"


def make_generator(
    seed: int | None, state: WaveNetState | None, device: torch.device
) -> torch.Generator:
    if seed is not None:
        return torch.Generator(device=device).manual_seed(int(seed))
    if state is not None and state.generator is not None:
        return state.generator
    # No seed: follow the global RNG so torch.manual_seed still makes runs repeatable.
    seed = int(torch.randint(0, 2**62, (1,)).item())
    return torch.Generator(device=device).manual_seed(seed)


def _check_frames(dec: WaveNetDecoder, n_samples: int, n_frames: int) -> None:
    """Every sample reads the conditioning frame it falls in: refuse more than there are."""
    if n_samples > n_frames * dec.hop:
        raise InputError(
            f"{n_samples} samples need {math.ceil(n_samples / dec.hop)} conditioning "
            f"frames (hop {dec.hop}), got {n_frames}."
        )


# ------------------------------------------------------------------ cached decoding
@torch.no_grad()
def decode(
    dec: WaveNetDecoder,
    cond: torch.Tensor,
    n_samples: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    state: WaveNetState | None = None,
    backend: Backend = "auto",
    forced: torch.Tensor | None = None,
    collect_logits: bool = False,
    progress: bool = False,
    uniforms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, WaveNetState, torch.Tensor | None]:
    """Cached incremental decoding; ``forced`` codes replace sampling (priming), and
    ``uniforms`` (n, B) float64 replace the generator's draws (chunked decoding).

    Returns (codes (B, n), the state after the last step, logits (B, n_classes, n) or
    None). The given ``state`` is left untouched (decoding continues from a copy).
    """
    cond = dec._check_cond(cond)
    batch, _, n_frames = cond.shape
    limit = n_frames * dec.hop
    if n_samples is None:
        n_samples = limit if forced is None else int(forced.shape[1])
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 0:
        raise InputError(f"n_samples must be a non-negative integer, got {n_samples!r}.")
    _check_frames(dec, n_samples, n_frames)
    if not isinstance(temperature, (int, float)) or not math.isfinite(temperature):
        raise InputError(f"Temperature must be a finite number, got {temperature!r}.")
    if temperature < 0:
        raise InputError(f"Temperature must be 0 (greedy) or positive, got {temperature}.")
    if state is not None:
        if not isinstance(state, WaveNetState):
            raise InputError("state must be a WaveNetState returned by generate().")
        if state.batch_size != batch:
            raise InputError(
                f"The decoder state is for batch size {state.batch_size}, the conditioning "
                f"has batch size {batch}."
            )
        if state.hist.shape[1:] != (max(sum(dec.lengths), 1), dec.residual_channels):
            raise InputError("The decoder state comes from a decoder of another size.")
    if forced is not None:
        forced = forced.to(device=cond.device, dtype=torch.int64)
        if forced.shape != (batch, n_samples):
            raise InputError(
                f"Priming codes must have shape ({batch}, {n_samples}), got {tuple(forced.shape)}."
            )
        if forced.numel() and (int(forced.min()) < 0 or int(forced.max()) >= dec.n_classes):
            raise InputError(f"Priming codes must lie in 0..{dec.n_classes - 1}.")
    which = resolve_backend(dec, backend)
    st = state.clone() if state is not None else initial_state(dec, batch)
    st.hist, st.inputs, st.prev = (
        st.hist.to(cond.device).float(),
        st.inputs.to(cond.device).float(),
        st.prev.to(cond.device),
    )
    gen = make_generator(seed, st, cond.device) if forced is None else st.generator
    st.generator = gen
    threads = torch.get_num_threads()
    if which == "fused":
        # numba runs its own thread pool; torch's idle OpenMP workers would otherwise
        # spin after our few torch ops and steal cycles from the kernel.
        torch.set_num_threads(1)
    try:
        packed = pack(dec)
        codes = torch.empty(batch, n_samples, dtype=torch.int64, device=cond.device)
        logits = (
            torch.empty(batch, n_samples, dec.n_classes, device=cond.device)
            if collect_logits
            else None
        )
        runner: Any = None
        if which == "fused":
            from latentmusic.nn import wavenet_fused

            try:
                runner = wavenet_fused.FusedRunner(packed, st, threads)
            except Exception as exc:  # a numba that cannot compile the kernel
                if backend == "fused":
                    raise
                warnings.warn(
                    f"Fused WaveNet kernel unavailable ({exc}); using the torch path.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                torch.set_num_threads(threads)
        if runner is None:
            runner = _TorchRunner(dec, packed, st)
        run_blocks(dec,
            runner, cond, packed, n_samples, temperature, uniforms, gen, forced, codes,
            logits, progress,
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    return codes, st, (logits.transpose(1, 2) if logits is not None else None)


def run_blocks(
    dec: WaveNetDecoder,
    runner: Any,
    cond: torch.Tensor,
    packed: PackedWeights,
    n_samples: int,
    temperature: float,
    uniforms: torch.Tensor | None,
    gen: torch.Generator | None,
    forced: torch.Tensor | None,
    codes: torch.Tensor,
    logits: torch.Tensor | None,
    progress: bool,
) -> None:
    """Feed the runner blocks of frames: project the conditioning, draw the uniforms."""
    batch, _, n_frames = cond.shape
    sampling = forced is None and temperature > 0
    bar = progress_bar(n_samples, "WaveNet decoding", "sample", progress, unit_scale=True)
    done = 0
    while done < n_samples:
        f0 = done // dec.hop
        f1 = min(f0 + _BLOCK_FRAMES, n_frames)
        n = min(f1 * dec.hop, n_samples) - done
        table = torch.einsum("bcf,oc->bfo", cond[:, :, f0:f1], packed.cond_w) + packed.cond_b
        if not sampling:
            u = None
        elif uniforms is not None:
            u = uniforms[done : done + n].to(device=cond.device, dtype=torch.float64)
        else:
            u = torch.rand(n, batch, generator=gen, dtype=torch.float64, device=cond.device)
        runner.run(
            table.contiguous(),
            done - f0 * dec.hop,
            n,
            float(temperature),
            u,
            forced[:, done : done + n] if forced is not None else None,
            codes[:, done : done + n],
            logits[:, done : done + n] if logits is not None else None,
        )
        done += n
        bar.update(n)
    bar.close()


def generate(
    dec: WaveNetDecoder,
    cond: torch.Tensor,
    n_samples: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
    state: WaveNetState | None = None,
    return_state: bool = False,
    backend: Backend = "auto",
    progress: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, WaveNetState]:
    """Sample codes (B, n_samples) one by one with the cached decoder.

    ``n_samples`` defaults to frames * hop. Temperature 0 is greedy. ``seed`` makes the
    run repeatable (without it a ``state``'s generator continues, else the global torch
    RNG seeds one). ``state``/``return_state`` carry the decoder across calls:
    ``generate(c1, return_state=True)`` then ``generate(c2, state=s)`` equals
    ``generate(cat(c1, c2))`` for the same seed. ``backend="auto"`` uses the fused CPU
    kernel when numba is available and the model is float32 on the CPU.
    """
    codes, st, _ = decode(
        dec, cond, n_samples, temperature, seed, state, backend, progress=progress
    )
    return (codes, st) if return_state else codes


def prime(
    dec: WaveNetDecoder,
    codes: torch.Tensor,
    cond: torch.Tensor,
    state: WaveNetState | None = None,
    backend: Backend = "auto",
) -> WaveNetState:
    """Feed known codes (e.g. the start of a recording) through the cache; continue with
    ``generate(next_cond, state=...)`` (the conditioning restarts at frame 0 there)."""
    if not isinstance(codes, torch.Tensor) or codes.dim() != 2:
        raise InputError("Priming codes must be a tensor of shape (batch, samples).")
    _, st, _ = decode(dec, cond, None, 0.0, None, state, backend, forced=codes)
    return st


@torch.no_grad()
def generate_naive(
    dec: WaveNetDecoder,
    cond: torch.Tensor,
    n_samples: int | None = None,
    temperature: float = 1.0,
    seed: int | None = None,
) -> torch.Tensor:
    """Reference sampler without a cache: every step recomputes the full receptive field.

    Orders of magnitude slower than ``generate``; kept as the baseline the benchmark
    measures and the tests compare against (same seed -> same codes).
    """
    cond = dec._check_cond(cond)
    batch, _, n_frames = cond.shape
    n_samples = n_frames * dec.hop if n_samples is None else n_samples
    _check_frames(dec, n_samples, n_frames)
    gen = make_generator(seed, None, cond.device)
    u = torch.rand(n_samples, batch, generator=gen, dtype=torch.float64, device=cond.device)
    prev = torch.full((batch, n_samples), -1, dtype=torch.int64, device=cond.device)
    codes = torch.empty(batch, n_samples, dtype=torch.int64, device=cond.device)
    window = dec.receptive_field
    for t in range(n_samples):
        t0 = max(0, t - window + 1)
        logits = dec._logits_from_prev(prev[:, t0 : t + 1], cond, t0)[:, :, -1]
        codes[:, t] = _sample(logits, temperature, u[t] if temperature > 0 else None)
        if t + 1 < n_samples:
            prev[:, t + 1] = codes[:, t]
    return codes


def generate_chunked(
    dec: WaveNetDecoder,
    cond: torch.Tensor,
    chunk_frames: int,
    overlap_frames: int,
    temperature: float = 1.0,
    seed: int | None = None,
    backend: Backend = "auto",
    crossfade_frames: int | None = None,
    fade: Literal["linear", "equal_power"] = "linear",
    return_audio: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """Decode a long conditioning sequence as a batch of chunks in parallel.

    Chunk i (after the first) starts ``overlap_frames`` before the frame where its output
    is kept; it runs from silence through that warm-up, whose first part is discarded
    and whose last ``crossfade_frames`` (default: half the overlap, at least one frame)
    are cross-faded in the audio domain with the end of chunk i-1. All chunks run as one
    batch, so a long input costs about one chunk's wall time on parallel hardware, and
    batching pays even on one core for decoders whose steps are memory-bound. Every
    chunk uses the random numbers sequential decoding with the same seed would use at
    the same sample, so after the warm-up most chunks lock onto the sequential output;
    the default linear fade leaves such identical stretches untouched (an equal-power
    fade, the choice for uncorrelated signals, would lift them by up to 3 dB).
    Returns mu-law codes (B, frames * hop) like ``generate`` (the cross-faded audio
    re-encoded), or the float audio in [-1, 1] when ``return_audio``.
    """
    from latentmusic.audio.mulaw import mu_law_decode, mu_law_encode

    cond = dec._check_cond(cond)
    batch, channels, n_frames = cond.shape
    for name, value, low in (
        ("chunk_frames", chunk_frames, 1),
        ("overlap_frames", overlap_frames, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}.")
    if fade not in ("equal_power", "linear"):
        raise InputError(f"fade must be 'linear' or 'equal_power', got {fade!r}.")
    if not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise InputError(f"Temperature must be 0 (greedy) or positive, got {temperature!r}.")
    if crossfade_frames is None:
        crossfade_frames = max(1, overlap_frames // 2) if overlap_frames else 0
    if not 0 <= crossfade_frames <= overlap_frames:
        raise InputError(
            f"crossfade_frames must lie in 0..overlap_frames ({overlap_frames}), "
            f"got {crossfade_frames}."
        )
    if dec.n_classes != 256:
        raise InputError("generate_chunked cross-fades 8-bit mu-law audio (256 classes).")
    hop, win = dec.hop, chunk_frames + overlap_frames
    n_chunks = 1 if n_frames <= win else 1 + math.ceil((n_frames - win) / chunk_frames)
    padded = (n_chunks - 1) * chunk_frames + win
    cond_p = torch.cat([cond, cond[:, :, -1:].expand(batch, channels, padded - n_frames)], 2)
    starts = [i * chunk_frames for i in range(n_chunks)]
    windows = torch.stack([cond_p[:, :, s : s + win] for s in starts], 1)  # (B, N, C, W)
    # Common random numbers: every chunk reads the uniform that sequential decoding with
    # the same seed draws for the same absolute sample, so where a chunk's trajectory
    # meets the sequential one after the warm-up, the two stay locked together.
    uniforms = None
    if temperature > 0:
        gen = make_generator(seed, None, cond.device)
        u_seq = torch.rand(
            padded * hop, batch, generator=gen, dtype=torch.float64, device=cond.device
        )
        uniforms = torch.stack([u_seq[s * hop : (s + win) * hop] for s in starts], 2).reshape(
            win * hop, batch * n_chunks
        )
    codes, _, _ = decode(
        dec,
        windows.reshape(batch * n_chunks, channels, win),
        temperature=float(temperature),
        backend=backend,
        progress=progress,
        uniforms=uniforms,
    )
    audio = mu_law_decode(codes, 255).reshape(batch, n_chunks, win * hop)
    out = audio.new_zeros(batch, padded * hop)
    out[:, : win * hop] = audio[:, 0]
    xf = crossfade_frames * hop
    ramp = (torch.arange(xf, device=out.device, dtype=torch.float32) + 0.5) / max(xf, 1)
    fade_in = torch.sin(0.5 * math.pi * ramp) if fade == "equal_power" else ramp
    fade_out = torch.cos(0.5 * math.pi * ramp) if fade == "equal_power" else 1.0 - ramp
    for i in range(1, n_chunks):
        keep = (starts[i] + overlap_frames) * hop  # where chunk i's own output begins
        local = overlap_frames * hop
        if xf:
            out[:, keep - xf : keep] = (
                out[:, keep - xf : keep] * fade_out + audio[:, i, local - xf : local] * fade_in
            )
        out[:, keep : keep + chunk_frames * hop] = audio[:, i, local:]
    out = out[:, : n_frames * hop].clamp_(-1.0, 1.0)
    return out if return_audio else mu_law_encode(out, 255)


def _sample(logits: torch.Tensor, temperature: float, u: torch.Tensor | None) -> torch.Tensor:
    """Inverse-CDF sampling of softmax(logits / T) in float64 with given uniforms (B,)."""
    if temperature <= 0 or u is None:
        return logits.argmax(1)
    z = logits.double() / temperature
    e = torch.exp(z - z.max(1, keepdim=True).values)
    cdf = e.cumsum(1)
    idx = torch.searchsorted(cdf, (u.to(cdf.device) * cdf[:, -1]).unsqueeze(1), right=True)
    return idx.squeeze(1).clamp_(max=logits.shape[1] - 1)


class _TorchRunner:
    """Cached steps with torch ops (any device): a few matmuls per layer and sample."""

    def __init__(self, model: WaveNetDecoder, packed: PackedWeights, state: WaveNetState) -> None:
        self.m, self.p, self.st = model, packed, state

    def run(
        self,
        table: torch.Tensor,
        local_t: int,
        n: int,
        temperature: float,
        u: torch.Tensor | None,
        forced: torch.Tensor | None,
        codes_out: torch.Tensor,
        logits_out: torch.Tensor | None,
    ) -> None:
        m, p, st = self.m, self.p, self.st
        r, k, hop = m.residual_channels, m.kernel, m.hop
        n_layers = len(m.dilations)
        hist = st.hist
        scale = 2.0 / (m.n_classes - 1)
        for i in range(n):
            t = st.t
            crow = table[:, (local_t + i) // hop]
            if m.input_embedding:
                h = p.embed[st.prev.clamp(min=0)] * (st.prev >= 0).unsqueeze(1)
            else:
                h = torch.addmm(p.start_b, st.inputs, p.start_t)
            skip = torch.addmm(p.ss_b, h, p.ss_t)
            for j in range(n_layers):
                off, length, d = m.offsets[j], m.lengths[j], m.dilations[j]
                taps = [hist[:, off + (t - q * d) % length] for q in range(k - 1, 0, -1)]
                z = torch.cat([*taps, h], 1)
                a = torch.addmm(crow[:, 2 * r * j : 2 * r * (j + 1)], z, p.wd_t[j])
                g = tm.gated_activation(a)
                hist[:, off + t % length] = h
                rs = torch.addmm(p.brs[j], g, p.wrs_t[j])
                skip += rs[:, r:]
                if j < n_layers - 1:
                    h = h + rs[:, :r]
            y = torch.addmm(crow[:, 2 * r * n_layers :], torch.relu(skip), p.o1_t).relu_()
            logits = torch.addmm(p.lg_b, y, p.lg_t)
            if logits_out is not None:
                logits_out[:, i] = logits
            if forced is not None:
                code = forced[:, i]
            else:
                code = _sample(logits, temperature, u[i] if u is not None else None)
            codes_out[:, i] = code
            st.inputs = torch.cat([st.inputs[:, 1:], (code.float() * scale - 1.0)[:, None]], 1)
            st.prev = code
            st.t = t + 1
