def answers(signal, **kwargs):
    """Every receiver's answer to a signal that asks the apps above "what depends on this?"
    (each answers with a list of names), in one sorted list."""
    return sorted(name for _, names in signal.send(sender=None, **kwargs) for name in names or ())
