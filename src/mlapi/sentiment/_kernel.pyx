# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One text's TF-IDF, logistic regression and word weights in C, from its words' feature ids.

The arithmetic of ``CompiledSentiment.score`` for a single text, without its ~40 numpy
calls: a small hash table groups the occurrences into one run per feature (its count in
the text), and three passes over the runs give the blocks' norms, the logits and each
word's share of the winner's score.
"""
import numpy as np

from cpython cimport array
from libc.math cimport exp, log, sqrt
from libc.stdlib cimport free, malloc


cdef struct Occurrence:
    Py_ssize_t run  # the run of its feature
    Py_ssize_t owner  # the word it belongs to
    double share  # 1, or 1/2 for a bigram across two words (counted once, half to each)


cdef struct Run:
    long long feature
    double count  # in the text
    double value  # its TF-IDF value, then that over its block's norm


cdef struct Slot:
    long long feature  # -1: empty
    Py_ssize_t run


def cache_line_rows(columns):
    """``columns`` copied into rows that each start a 64-byte cache line (zero padded to a multiple of 8 doubles)."""
    rows, width = columns.shape
    stride = -(-width // 8) * 8
    memory = np.zeros(rows * stride + 8)
    start = (-memory.ctypes.data % 64) // 8
    table = memory[start:start + rows * stride].reshape(rows, stride)
    table[:, :width] = columns
    return table


cdef inline Py_ssize_t run_of_feature(long long feature, Slot *slots, Py_ssize_t mask, Run *runs,
                                      Py_ssize_t *n_runs) noexcept nogil:
    """The run of ``feature``, opened (count 0) if the table has none: open addressing, linear probing."""
    cdef Py_ssize_t slot = <Py_ssize_t> ((<unsigned long long> feature * 0x9E3779B97F4A7C15ULL) >> 32) & mask
    while slots[slot].feature != -1 and slots[slot].feature != feature:
        slot = (slot + 1) & mask
    if slots[slot].feature == -1:
        slots[slot] = Slot(feature, n_runs[0])
        runs[n_runs[0]] = Run(feature, 0.0, 0.0)
        n_runs[0] += 1
    return slots[slot].run


cdef class Kernel:
    """The fitted numbers, one cache line per feature: its idf, its weight and centred weight per class.

    A text reads a few hundred features scattered over the vocabulary, out of the CPU's caches
    inside a request: kept side by side, each feature costs one memory read, not one per array.
    """

    cdef const double[:, ::1] table  # per feature: idf, weight per class, centred weight per class, padding
    cdef list intercepts
    cdef long long char_offset

    def __init__(self, idf, coef, centred, intercepts, long long char_offset):
        columns = np.column_stack([idf, coef.T, centred.T])
        self.table = cache_line_rows(columns)
        self.intercepts = [float(value) for value in intercepts]
        self.char_offset = char_offset

    def score(self, list word_ids, list across):
        """(probabilities, winner, word weights) of one text.

        ``word_ids``: each word's in-vocabulary feature ids (``array('q')``), occurrences wholly inside it.
        ``across``: ``(feature, left word, right word)`` for each bigram that spans two words.
        """
        cdef Py_ssize_t n_words = len(word_ids), n_labels = len(self.intercepts), total = 2 * len(across)
        cdef Py_ssize_t i, k, run, n_runs = 0, word, label, winner = 0, slot, mask = 15
        cdef array.array ids
        for ids in word_ids:
            total += len(ids)
        while mask < 2 * total:  # at most half full
            mask = 2 * mask + 1
        cdef Occurrence *occurrences = <Occurrence *> malloc((total + 1) * sizeof(Occurrence))
        cdef Run *feature_runs = <Run *> malloc((total + 1) * sizeof(Run))
        cdef Slot *slots = <Slot *> malloc((mask + 1) * sizeof(Slot))
        cdef double *numbers = <double *> malloc((2 * n_labels + n_words + 1) * sizeof(double))
        cdef double *logits = numbers
        cdef double *exps = numbers + n_labels
        cdef double *weights = numbers + 2 * n_labels
        cdef double squares[2]
        cdef double norms[2]
        cdef double top, exp_total
        cdef long long feature
        try:
            if occurrences == NULL or feature_runs == NULL or slots == NULL or numbers == NULL:
                raise MemoryError()
            for slot in range(mask + 1):
                slots[slot].feature = -1
            k = 0
            for word in range(n_words):
                ids = word_ids[word]
                for i in range(len(ids)):
                    run = run_of_feature(ids.data.as_longlongs[i], slots, mask, feature_runs, &n_runs)
                    occurrences[k] = Occurrence(run, word, 1.0)
                    feature_runs[run].count += 1.0
                    k += 1
            for feature, left, right in across:
                run = run_of_feature(feature, slots, mask, feature_runs, &n_runs)
                occurrences[k] = Occurrence(run, left, 0.5)
                occurrences[k + 1] = Occurrence(run, right, 0.5)
                feature_runs[run].count += 1.0
                k += 2

            # Sublinear TF x IDF, each block's norm, then the classifier: a sparse dot product, softmax.
            squares[0] = squares[1] = 0.0
            for i in range(n_runs):
                feature_runs[i].value = (log(feature_runs[i].count) + 1.0) * self.table[feature_runs[i].feature, 0]
                squares[feature_runs[i].feature >= self.char_offset] += feature_runs[i].value * feature_runs[i].value
            for i in range(2):
                norms[i] = sqrt(squares[i]) if squares[i] > 0.0 else 1.0  # an empty block adds nothing
            for label in range(n_labels):
                logits[label] = self.intercepts[label]
            for i in range(n_runs):
                feature_runs[i].value /= norms[feature_runs[i].feature >= self.char_offset]
                for label in range(n_labels):
                    logits[label] += feature_runs[i].value * self.table[feature_runs[i].feature, 1 + label]
            top = logits[0]
            for label in range(1, n_labels):
                if logits[label] > top:
                    top, winner = logits[label], label
            exp_total = 0.0
            for label in range(n_labels):
                exps[label] = exp(logits[label] - top)
                exp_total += exps[label]

            # Each occurrence's share of its feature's push on the winner, summed per word.
            for word in range(n_words):
                weights[word] = 0.0
            for i in range(n_runs):  # from here on a run's value is its push per unit of count
                feature_runs[i].value *= self.table[feature_runs[i].feature, 1 + n_labels + winner] / feature_runs[i].count
            for k in range(total):
                weights[occurrences[k].owner] += feature_runs[occurrences[k].run].value * occurrences[k].share
            return ([exps[label] / exp_total for label in range(n_labels)], winner,
                    [weights[word] for word in range(n_words)])
        finally:
            free(occurrences)
            free(feature_runs)
            free(slots)
            free(numbers)
