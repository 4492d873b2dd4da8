"""Generation: one Response per (prompt, contestant). (Being built out in the generation engine.)"""
