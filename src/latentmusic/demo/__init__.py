"""``latentmusic demo``: a page a musician would enjoy, built from offline material."""
