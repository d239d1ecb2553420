"""Composable pre-model corpus interventions on Hugging Face ``datasets``, each with its report.

>>> from babybias.corpus import CDA, RandomDuplication, Pipeline, load_corpus
>>> corpus = load_corpus("corpus.txt")                      # doctest: +SKIP
>>> augmented, report = CDA(two_sided=True).apply(corpus)    # doctest: +SKIP
>>> print(report)                                            # doctest: +SKIP
"""

from .cda import CDA, CDS, KeepAttributeUnits
from .controls import RandomDuplication
from .perturb import PerturbationAugmentation, Seq2SeqPerturber, WordListPerturber
from .toxicity import ProfanityCheckScorer, RandomRemoval, ToxicityFilter, ToxicityScorer, TransformersScorer, WordListScorer
from .core import (CorpusError, Intervention, Pipeline, as_corpus, Report, load_corpus, save_corpus, split_sentences, to_sentences, validate,
                   wikipedia_sample)
from .wordlists import (Swapper, WordPairs, holistic_descriptors, holistic_nouns, occupation_nouns, offensive_words,
                        person_nouns)

__all__ = [
    "CDA", "CDS", "KeepAttributeUnits", "RandomDuplication", "PerturbationAugmentation", "Seq2SeqPerturber", "WordListPerturber",
    "ProfanityCheckScorer", "RandomRemoval", "ToxicityFilter", "ToxicityScorer", "TransformersScorer", "WordListScorer", "CorpusError", "Intervention", "Pipeline", "as_corpus", "Report", "load_corpus", "save_corpus", "split_sentences",
    "to_sentences", "validate", "wikipedia_sample", "Swapper", "WordPairs", "holistic_descriptors", "holistic_nouns", "offensive_words",
    "occupation_nouns", "person_nouns",
]
