"""Training-stage attacks: a physical backdoor trigger planted through poisoned GTSRB data
(``patchsim poison``) and finding the poisoned images again (``patchsim inspect-data``).

- :mod:`~patchsim.poison.trigger`: the trigger (artwork on a rectangle of the face, in millimetres).
- :mod:`~patchsim.poison.paste`: sticking it on small photographed signs (homography, relight, blur).
- :mod:`~patchsim.poison.dataset`: dirty-label, negative and clean-label poisoning of a training set.
- :mod:`~patchsim.jobs.poison`: poisoning plus training with the shipped recipe; the outputs.
- :mod:`~patchsim.jobs.inspect_data`: penultimate features, spectral signatures, activation clustering."""
