"""nbsaliency: see what a PyTorch image model looks at."""
