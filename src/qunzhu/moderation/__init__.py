"""The detector every live group and every replay uses: layers from cheapest to dearest, each
layer's result kept with the decision."""
