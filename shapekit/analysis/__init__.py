"""shapekit.analysis"""
