"""The training & evaluation tab: the launch form, following a run through its folder, the results."""
