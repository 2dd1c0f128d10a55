"""shapekit.synth"""
