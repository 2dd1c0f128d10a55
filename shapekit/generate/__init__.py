"""shapekit.generate"""
