"""The NNI adapter: the supernet as an NNI model space (cells and macro choices), the search strategies
(NNI's one-shot strategies and ours on their seams), cost-aware search, single-path search (SPOS) and
perturbation-based selection. ``labels`` alone knows NNI's label format and reads its private
attributes. Importing this package imports no NNI (its modules do, when they are imported)."""
