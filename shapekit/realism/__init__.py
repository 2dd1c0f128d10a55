"""shapekit.realism"""
