"""The untrained embedded image model: Stable Diffusion's components, sized for scenes a CPU can learn.

The same classes and folder layout as SD 1.x (AutoencoderKL, UNet2DConditionModel, CLIPTextModel, a
CLIPTokenizer, a scheduler), so the image service loads it through its ordinary path; only the sizes
differ. The native size is 64x64: the VAE halves three times (scale factor 8, an 8x8x4 latent, as SD's
512 px are 64x64) and the UNet's ``sample_size`` of 8 makes the pipeline default to 64 px when a request
leaves the size unset. Every size was chosen so that training fits in under an hour of a 2-core CPU.
"""

from collections import Counter
from itertools import pairwise

from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from default_models.scene_grammar import SIZE, vocabulary

LATENT_SIZE = SIZE // 8
TEXT_DIM = 64
MAX_TOKENS = 32
GROUPS = 4
END_OF_WORD = "</w>"


def word_merges(words: list[str]) -> list[tuple[str, str]]:
    """BPE merges under which every word of the grammar is one token, learnt the way BPE learns them.

    Hand-chained merges conflict between words ("red" and "green" share "re"); merges learnt by always
    joining the most frequent pair, applied in that order as CLIP's tokenizer does, rebuild each word
    whole. Written out rather than taken from the `tokenizers` trainer because that one breaks ties
    between equally frequent pairs differently from run to run, which renumbered the word "at" when
    training resumed in a new process.
    """
    pieces = [[*word[:-1], word[-1] + END_OF_WORD] for word in words]
    merges: list[tuple[str, str]] = []
    while any(len(piece) > 1 for piece in pieces):
        counts = Counter(pair for piece in pieces for pair in pairwise(piece))
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges.append(best)
        pieces = [joined(piece, best) for piece in pieces]
    return merges


def joined(piece: list[str], pair: tuple[str, str]) -> list[str]:
    """``piece`` with every occurrence of ``pair`` made one symbol, left to right."""
    out: list[str] = []
    for symbol in piece:
        if out and (out[-1], symbol) == pair:
            out[-1] += symbol
        else:
            out.append(symbol)
    return out


def build_tokenizer() -> CLIPTokenizer:
    """A CLIP tokenizer whose vocabulary holds each grammar word whole; other text falls back to characters.

    Its vocabulary is laid out as CLIP's is: byte characters, the same with the end-of-word mark, one entry
    per merge, then the two special tokens.
    """
    symbols = list(bytes_to_unicode().values())
    merges = word_merges(vocabulary())
    tokens = symbols + [symbol + END_OF_WORD for symbol in symbols] + ["".join(pair) for pair in merges]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS)


def build_vae() -> AutoencoderKL:
    """Four levels (scale factor 8) with few channels: flat-coloured 64 px scenes need little more.

    Few norm groups (GROUPS): with one or two channels per group, GroupNorm takes away each channel's mean,
    which is where a flat region keeps its colour, and the VAE learnt shapes in grey.
    """
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32, 32, 32),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=GROUPS,
        sample_size=SIZE,
    )


def build_unet() -> UNet2DConditionModel:
    """Cross-attention at 8x8 and 4x4: where a word lands in the picture is learnt at both scales."""
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=TEXT_DIM,
        attention_head_dim=4,
        norm_num_groups=GROUPS,
    )


def build_text_encoder(tokenizer: CLIPTokenizer) -> CLIPTextModel:
    """A two-layer CLIP text transformer over the grammar's words."""
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_DIM,
            intermediate_size=4 * TEXT_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=MAX_TOKENS,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )


def build_scheduler() -> DPMSolverMultistepScheduler:
    """A cosine noise schedule (it reaches pure noise, which small images need) with v-prediction."""
    return DPMSolverMultistepScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", steps_offset=1
    )
