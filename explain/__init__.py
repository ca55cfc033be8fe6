"""What happens inside the models, computed from the model in use: why a caption or
answer says each word and where the model looked (``generation``), the denoising
timeline and per-word maps (``diffusion``), the CLIP lab (``clip``), drawing them
(``heatmaps``), and Show the code (``snippets``)."""

from runtime.lazy import exports

_WHERE = {
    "explain_caption": "explain.generation",
    "explain_vqa": "explain.generation",
    "explain_text_to_image": "explain.diffusion",
    "similarity_matrix": "explain.clip",
    "embedding_map": "explain.clip",
    "snippet": "explain.snippets",
}
__all__ = sorted(_WHERE)

__getattr__ = exports(__name__, _WHERE)
