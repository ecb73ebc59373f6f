"""The untrained embedded image model: Stable Diffusion's components, sized for scenes a CPU can learn.

The same classes and folder layout as SD 1.x (AutoencoderKL, UNet2DConditionModel, CLIPTextModel, a
CLIPTokenizer, a scheduler), so the image service loads it through its ordinary path; only the sizes
differ. The native size is 64x64: the VAE halves three times (scale factor 8, an 8x8x4 latent, as SD's
512 px are 64x64) and the UNet's ``sample_size`` of 8 makes the pipeline default to 64 px when a request
leaves the size unset. Every size was chosen so that training fits in under an hour of a 2-core CPU.
"""

import json

from diffusers import AutoencoderKL, DPMSolverMultistepScheduler, UNet2DConditionModel
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
from transformers.convert_slow_tokenizer import bytes_to_unicode

from default_models.scene_grammar import SIZE, vocabulary

LATENT_SIZE = SIZE // 8
TEXT_DIM = 64
MAX_TOKENS = 32
GROUPS = 4
END_OF_WORD = "</w>"


def word_merges(words: list[str]) -> list[tuple[str, str]]:
    """BPE merges under which every word of the grammar is one token, learnt by the `tokenizers` trainer.

    Hand-chained merges conflict between words ("red" and "green" share "re"); a trainer's merges, applied
    in rank order as CLIP's tokenizer does, rebuild each training word whole.
    """
    learner = Tokenizer(models.BPE(end_of_word_suffix=END_OF_WORD))
    learner.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=10_000, show_progress=False, end_of_word_suffix=END_OF_WORD)
    learner.train_from_iterator(words, trainer)
    return [tuple(pair) for pair in json.loads(learner.to_str())["model"]["merges"]]


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
