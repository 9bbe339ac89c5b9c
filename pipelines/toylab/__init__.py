"""The toy lab: a tiny Qwen2-VL trained here on short synthetic videos, evaluated far past them.

``model.py`` builds the architecture and processor, ``train.py`` trains and ships it
(``vlmctx toylab train``), ``experiment.py`` runs position schemes x pooling x video length through
the eval runner (``vlmctx toylab run``). See docs/toylab.md.
"""
