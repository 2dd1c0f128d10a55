"""shapekit.topology"""
