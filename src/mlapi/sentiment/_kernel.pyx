# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""One text's TF-IDF, logistic regression and word weights in C, from its words' feature ids.

The arithmetic of ``CompiledSentiment.score`` for a single text, without its ~40 numpy
calls: the occurrences are sorted by feature, each run is one feature's count, and three
passes over the runs give the blocks' norms, the logits and each word's share.
"""
from cpython cimport array
from libc.math cimport exp, log, sqrt
from libc.stdlib cimport free, malloc, qsort


cdef struct Occurrence:
    long long feature
    Py_ssize_t owner  # the word it belongs to
    double share  # 1, or 1/2 for a bigram across two words (counted once, half to each)


cdef int by_feature(const void *a, const void *b) noexcept nogil:
    cdef long long x = (<const Occurrence *> a).feature, y = (<const Occurrence *> b).feature
    return (x > y) - (x < y)


cdef class Kernel:
    """The fitted numbers: idf per feature, weights and centred weights per class and feature, intercepts."""

    cdef const double[::1] idf
    cdef const double[:, ::1] coef
    cdef const double[:, ::1] centred
    cdef list intercepts
    cdef long long char_offset

    def __init__(self, idf, coef, centred, intercepts, long long char_offset):
        self.idf, self.coef, self.centred = idf, coef, centred
        self.intercepts = [float(value) for value in intercepts]
        self.char_offset = char_offset

    def score(self, list word_ids, list across):
        """(probabilities, winner, word weights) of one text.

        ``word_ids``: each word's in-vocabulary feature ids (``array('q')``), occurrences wholly inside it.
        ``across``: ``(feature, left word, right word)`` for each bigram that spans two words.
        """
        cdef Py_ssize_t n_words = len(word_ids), n_labels = len(self.intercepts), total = 2 * len(across)
        cdef Py_ssize_t i, j, k, start, runs, word, label, block, winner = 0
        cdef array.array ids
        for ids in word_ids:
            total += len(ids)
        cdef Occurrence *occurrences = <Occurrence *> malloc((total + 1) * sizeof(Occurrence))
        cdef Py_ssize_t *run_end = <Py_ssize_t *> malloc((total + 1) * sizeof(Py_ssize_t))
        cdef double *numbers = <double *> malloc((2 * total + 2 * n_labels + n_words + 1) * sizeof(double))
        if occurrences == NULL or run_end == NULL or numbers == NULL:
            free(occurrences)
            free(run_end)
            free(numbers)
            raise MemoryError()
        # Per run of one feature: where it ends, the feature's count in the text, its TF-IDF value.
        cdef double *run_count = numbers
        cdef double *run_value = numbers + total
        cdef double *logits = numbers + 2 * total
        cdef double *exps = logits + n_labels
        cdef double *weights = exps + n_labels
        cdef double squares[2]
        cdef double norms[2]
        cdef double count, value, top, exp_total, push
        cdef long long feature
        try:
            k = 0
            for word in range(n_words):
                ids = word_ids[word]
                for i in range(len(ids)):
                    occurrences[k] = Occurrence(ids.data.as_longlongs[i], word, 1.0)
                    k += 1
            for feature, left, right in across:
                occurrences[k] = Occurrence(feature, left, 0.5)
                occurrences[k + 1] = Occurrence(feature, right, 0.5)
                k += 2
            qsort(occurrences, total, sizeof(Occurrence), by_feature)

            # Runs of one feature: sublinear TF x IDF, and the squares of each block's norm.
            squares[0] = squares[1] = 0.0
            runs = 0
            start = 0
            while start < total:
                feature, count, j = occurrences[start].feature, 0.0, start
                while j < total and occurrences[j].feature == feature:
                    count += occurrences[j].share
                    j += 1
                value = (log(count) + 1.0) * self.idf[feature]
                squares[feature >= self.char_offset] += value * value
                run_end[runs], run_count[runs], run_value[runs] = j, count, value
                runs += 1
                start = j
            for block in range(2):
                norms[block] = sqrt(squares[block]) if squares[block] > 0.0 else 1.0  # an empty block adds nothing

            # The classifier: each run's normalised value times its weights, then softmax.
            for label in range(n_labels):
                logits[label] = self.intercepts[label]
            start = 0
            for i in range(runs):
                feature = occurrences[start].feature
                run_value[i] /= norms[feature >= self.char_offset]
                for label in range(n_labels):
                    logits[label] += run_value[i] * self.coef[label, feature]
                start = run_end[i]
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
            start = 0
            for i in range(runs):
                feature = occurrences[start].feature
                push = run_value[i] * self.centred[winner, feature] / run_count[i]
                while start < run_end[i]:
                    weights[occurrences[start].owner] += push * occurrences[start].share
                    start += 1
            return ([exps[label] / exp_total for label in range(n_labels)], winner,
                    [weights[word] for word in range(n_words)])
        finally:
            free(occurrences)
            free(run_end)
            free(numbers)

