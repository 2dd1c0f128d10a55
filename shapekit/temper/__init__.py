"""shapekit.temper"""
