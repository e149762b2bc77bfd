"""FER measures on CPPNs (Kumar et al. 2025): feature maps, weight sweeps."""
