"""Load-balancing lab: train a small MoE live with the balance-loss weight and watch collapse or balance."""
import moeviz.app as app
from moeviz.app import balance_page as sections

controls = app.sidebar("moeviz · Load balancing")
sections.intro(controls)  # what the lab does, and what α = 0, 0.3 and 10 cost on this layer
settings = sections.knobs(controls)
started = sections.training(controls, settings)
sections.results(controls, settings, started)
sections.z_loss(controls, settings)  # the same run without and with a z-loss
sections.precision(controls)

app.finish_page()
