"""Load-balancing lab: train a small MoE live with the balance-loss weight and watch collapse or balance."""
import moeviz.app as app
from moeviz.app import balance_page as sections

controls = app.sidebar("moeviz · Load balancing")
sections.intro(controls)  # what the lab does, and what α = 0, 0.3 and 10 cost on this layer
settings = sections.knobs(controls)
started = sections.training(controls, settings)
shown = sections.results(controls, settings, started)
sections.z_loss(shown)
sections.precision(controls)

app.finish_page()
