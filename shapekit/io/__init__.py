"""shapekit.io"""
