"""ME-TST / ME-TST+ networks and their Mamba layers."""
