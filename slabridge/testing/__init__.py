"""What slabridge's own tests, benchmarks and plugin authors use to run it for real.

``rig`` starts the product as an operator would: the receiver under gunicorn,
``slabridge worker`` processes, fake vendor APIs on loopback, and a signed load;
it kills and restarts processes and checks what the vendors received.
"""
