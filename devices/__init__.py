"""segevo.devices"""
